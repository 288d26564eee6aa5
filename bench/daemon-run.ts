/**
 * One run of the real daemon against the fake backpack.tf server: fresh database, daemon child
 * process, RSS/CPU sampling, commit tracking; the caller decides how frames are sent (firehose or
 * steady). Everything is torn down whatever happens, and every wait is bounded.
 */
import { sql } from 'kysely';
import { FakeBptfServer } from '../src/simulator/bptf-server.js';
import { CommitTracker, lagStats, type LagStats, type TrackedFrame } from './commits.js';
import { daemonConnected, freePort, scrapeMetrics, startDaemon, type DaemonMode } from './daemon.js';
import { checkpoint, countWrongRows, migrate, openDb, recreateDatabase, tableStats, walBytesSince, walLsn, type TableStats } from './db.js';
import { settle } from './gc.js';
import { cpuSeconds, cpuSecondsOf, machineCpu, sampleRss } from './rss.js';
import type { Frame, Workload } from './workload.js';

export interface DaemonRunOptions {
  readonly serverUrl: string;
  readonly dbName: string;
  readonly mode: DaemonMode;
  readonly workload: Workload;
  readonly pollMs: number;
  readonly env?: Record<string, string>;
  readonly cpuProfileDir?: string;
  /** Run this compiled main.js instead of the bench's build. */
  readonly entry?: string;
  /** Statements run after migrating and before the daemon starts (a table variant); the daemon's own migration is then a no-op. */
  readonly tableSql?: readonly string[];
  /** Longest wait for the last commit after the last send (ms). */
  readonly drainTimeoutMs: number;
  readonly log: (line: string) => void;
}

/** How the caller sends: called once; must send every frame through `send`. */
export type Sender = (frames: readonly Frame[], send: (frame: Frame, index: number) => void, tracker: CommitTracker) => Promise<void>;

export interface DaemonRunResult {
  readonly events: number;
  /** events / (last commit - first send), events per second. */
  readonly eventsPerS: number;
  readonly elapsedMs: number;
  readonly lag: LagStats;
  readonly peakRssMb: number;
  /**
   * RSS once connected and migrated, before the first frame (MB): Node and the loaded modules, the
   * floor under every other figure. With a backlog, BUFFER_MAX_BYTES of events is held on top of it.
   */
  readonly idleRssMb: number;
  readonly maxSampledRssMb: number;
  readonly meanRssMb: number;
  /** CPU seconds over the run (first send .. last commit observed). */
  readonly daemonCpuS: number;
  readonly postgresCpuS: number;
  /** The bench process itself (fake server sending, commit polling). */
  readonly benchCpuS: number;
  /** Share of all CPUs busy during the run (everything on the machine, other users included). */
  readonly machineBusy: number;
  readonly walMb: number;
  readonly table: TableStats;
  readonly missingRows: number;
  readonly wrongRows: number;
  readonly daemonMetrics: Record<string, number>;
  readonly polls: { count: number; meanMs: number; maxMs: number };
}

export async function runDaemon(o: DaemonRunOptions, sender: Sender): Promise<DaemonRunResult> {
  const url = await recreateDatabase(o.serverUrl, o.dbName);
  const bench = openDb(url, 2);
  if (o.tableSql && o.tableSql.length > 0) {
    await migrate(bench);
    for (const statement of o.tableSql) await bench.pool.query(statement);
  }
  // Room for a --window of 100,000 events of 2-3 KiB sent at once: the daemon is measured, not this server.
  const server = new FakeBptfServer({ maxBufferedBytes: 1024 * 1024 * 1024 });
  await server.start();
  const httpPort = await freePort();
  const daemon = startDaemon({ mode: o.mode, databaseUrl: url, bptfUrl: server.url, httpPort, env: o.env, cpuProfileDir: o.cpuProfileDir, entry: o.entry });
  const tracker = new CommitTracker(url, o.pollMs);
  let rss: ReturnType<typeof sampleRss> | undefined;
  try {
    await daemonConnected(daemon, server, 60_000);
    // The daemon has migrated by now: flush, as before the in-process phases.
    await checkpoint(bench);
    await settle();
    await tracker.start();
    rss = sampleRss(daemon.pid, 100);
    // The daemon's own connections: their CPU is the database's share of the work.
    const backends = (
      await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = ${o.dbName} AND application_name = 'tributary'`.execute(bench.db)
    ).rows.map((r) => r.pid);
    const lsn = await walLsn(bench);
    const cpu0 = { daemon: cpuSeconds(daemon.pid) ?? 0, pg: cpuSecondsOf(backends), bench: process.cpuUsage(), machine: machineCpu() };
    let dropped = 0;
    await sender(
      o.workload.frames,
      (frame, index) => {
        const sentAt = Date.now();
        if (!server.sendFrame(frame.data)) dropped++;
        tracker.sent({ index, events: frame.events, probeListingId: frame.probeListingId, probeEventId: frame.probeEventId, sentAt });
      },
      tracker,
    );
    if (dropped > 0) throw new Error(`bench: the fake server dropped ${dropped} frames (client not reading)`);
    await tracker.waitAll(o.drainTimeoutMs);
    // Backends may have been replaced (pool idle timeout): pick up any new ones for the CPU total.
    const backendsAfter = (
      await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = ${o.dbName} AND application_name = 'tributary'`.execute(bench.db)
    ).rows.map((r) => r.pid);
    const cpu1 = { daemon: cpuSeconds(daemon.pid) ?? 0, pg: cpuSecondsOf([...new Set([...backends, ...backendsAfter])]), bench: process.cpuUsage(cpu0.bench), machine: machineCpu() };
    rss.stop();
    const frames: readonly TrackedFrame[] = tracker.committed;
    const firstSend = Math.min(...frames.map((f) => f.sentAt));
    const lastCommit = Math.max(...frames.map((f) => f.committedAt ?? 0));
    const walMb = (await walBytesSince(bench, lsn)) / 1048576;
    const daemonMetrics = await scrapeMetrics(httpPort).catch(() => ({}));
    const check = await countWrongRows(bench, o.workload.finalEventIds);
    const table = await tableStats(bench);
    const elapsedMs = lastCommit - firstSend;
    return {
      events: o.workload.events,
      eventsPerS: (o.workload.events / elapsedMs) * 1000,
      elapsedMs,
      lag: lagStats(frames),
      peakRssMb: rss.hwmMb,
      idleRssMb: rss.firstMb,
      maxSampledRssMb: rss.maxSampledMb,
      meanRssMb: rss.meanMb,
      daemonCpuS: cpu1.daemon - cpu0.daemon,
      postgresCpuS: cpu1.pg - cpu0.pg,
      benchCpuS: (cpu1.bench.user + cpu1.bench.system) / 1e6,
      machineBusy: (cpu1.machine.busy - cpu0.machine.busy) / Math.max(1, cpu1.machine.total - cpu0.machine.total),
      walMb,
      table,
      missingRows: check.missing,
      wrongRows: check.wrong,
      daemonMetrics,
      polls: { count: tracker.polls, meanMs: tracker.polls ? tracker.pollMsTotal / tracker.polls : 0, maxMs: tracker.pollMsMax },
    };
  } finally {
    rss?.stop();
    await tracker.stop().catch(() => undefined);
    const code = await daemon.stop();
    if (code !== 0) o.log(`warning: daemon exited with ${code}:\n${daemon.output().slice(-2000)}`);
    await server.stop();
    await bench.close();
  }
}
