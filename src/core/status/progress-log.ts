import type { Logger } from '../../logger.js';
import type { SourceStatus } from './source-status.js';

/**
 * LOG_PROGRESS_MS: one info line per feed every interval, so a running daemon says what it does
 * without SQL or /metrics: events received and written since the last line, the write rate
 * (events/s), the lag of the last committed event (ms), and what memory and the spool hold.
 */
export function startProgressLog(opts: {
  readonly intervalMs: number;
  readonly statuses: () => Iterable<SourceStatus>;
  readonly buffered: () => { events: number; spoolBytes: number };
  readonly logger: Logger;
}): () => void {
  if (opts.intervalMs <= 0) return () => {};
  const last = new Map<string, { received: number; written: number; at: number }>();
  const timer = setInterval(() => {
    const now = Date.now();
    const { events, spoolBytes } = opts.buffered();
    for (const s of opts.statuses()) {
      const prev = last.get(s.source) ?? { received: 0, written: 0, at: now - opts.intervalMs };
      const written = s.eventsWritten - prev.written;
      opts.logger.info(
        {
          source: s.source,
          state: s.state,
          received: s.eventsReceived - prev.received,
          written,
          per_s: Math.round((written * 1000) / Math.max(1, now - prev.at)),
          lag_ms: s.lastLagMs,
          buffered_events: events,
          spool_bytes: spoolBytes,
        },
        'progress',
      );
      last.set(s.source, { received: s.eventsReceived, written: s.eventsWritten, at: now });
    }
  }, opts.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
