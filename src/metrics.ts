import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every Prometheus metric tributary exposes on /metrics. One registry per app (not prom-client's
 * global one) so tests can run several apps in one process.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tributary_process_' });
  const m = {
    registry,
    eventsReceived: new Counter({
      name: 'tributary_events_received_total',
      help: 'Events parsed from upstream frames (or webhook deliveries), by source.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    eventsWritten: new Counter({
      name: 'tributary_events_written_total',
      help: 'Events committed to Postgres, by source (an event merged with another of its batch counts too; one the database refused does not).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    eventsReplayed: new Counter({
      name: 'tributary_events_replayed_total',
      help: 'Events written from a spool that an earlier run left (received and counted by that run), by source.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    eventsRejected: new Counter({
      name: 'tributary_events_rejected_total',
      help: 'Frames or events that could not be used and were stored in ingest_rejects, by source.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    eventsIgnored: new Counter({
      name: 'tributary_events_ignored_total',
      help: 'Well-formed upstream messages that carry no data to store (limit notices, acks), by source and event (a known name; any other is counted as other).',
      labelNames: ['source', 'event'] as const,
      registers: [registry],
    }),
    eventsDropped: new Counter({
      name: 'tributary_events_dropped_total',
      help: 'Events lost because neither the memory buffer nor the spool could keep them, by source and reason (memory_full, spool_full, spool_write_failed, unencodable, shutdown).',
      labelNames: ['source', 'reason'] as const,
      registers: [registry],
    }),
    reconnects: new Counter({
      name: 'tributary_reconnects_total',
      help: 'Upstream reconnect attempts, by source.',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    connectionState: new Gauge({
      name: 'tributary_connection_state',
      help: '1 for the current state of each source connection, 0 for the others.',
      labelNames: ['source', 'state'] as const,
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'tributary_leader',
      help: '1 when this replica runs the source (holds its lock, or the source runs on every replica).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    bufferEvents: new Gauge({
      name: 'tributary_buffer_events',
      help: 'Events held in memory waiting to be written (buffered plus in flight), by writer.',
      labelNames: ['writer'] as const,
      registers: [registry],
    }),
    spoolBytes: new Gauge({
      name: 'tributary_spool_bytes',
      help: 'Bytes of events in the on-disk spool (DATA_DIR/spool) waiting to be written, by writer.',
      labelNames: ['writer'] as const,
      registers: [registry],
    }),
    batchWriteDuration: new Histogram({
      name: 'tributary_batch_write_duration_seconds',
      help: 'Duration of one successful batch write, by writer.',
      labelNames: ['writer'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    writeFailures: new Counter({
      name: 'tributary_write_failures_total',
      help: 'Failed batch write attempts (retried with backoff), by writer.',
      labelNames: ['writer'] as const,
      registers: [registry],
    }),
    ingestLag: new Histogram({
      name: 'tributary_ingest_lag_seconds',
      help: 'Commit time minus event time, by source. bptf event times have 1 s resolution.',
      labelNames: ['source'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    }),
    dbUp: new Gauge({
      name: 'tributary_database_up',
      help: '1 when the last database probe succeeded.',
      registers: [registry],
    }),
    databaseRefusing: new Gauge({
      name: 'tributary_database_refusing',
      help: '1 while the database refuses writes with this SQLSTATE (read-only, privilege, a table or column gone, authentication): events are held, never rejected.',
      labelNames: ['sqlstate'] as const,
      registers: [registry],
    }),
    spoolOldestSeconds: new Gauge({
      name: 'tributary_spool_oldest_seconds',
      help: 'Age of the oldest event waiting in the on-disk spool (seconds; 0 when the spool is empty).',
      registers: [registry],
    }),
    rowsPurged: new Counter({
      name: 'tributary_rows_purged_total',
      help: 'Rows removed by retention (e.g. bptf_listings tombstones older than TOMBSTONE_RETENTION_DAYS), by table.',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    ready: new Gauge({
      name: 'tributary_ready',
      help: '1 when GET /readyz would answer 200 (database up, migrations applied, no write failing, no event just dropped); probed every 5 s.',
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
