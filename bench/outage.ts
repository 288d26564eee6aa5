/**
 * `--phases outage`: catching up after a database outage (issue 23). For one target (an external
 * Postgres, or the daemon's embedded database), two runs of the real daemon (child process, fresh
 * database, fresh DATA_DIR each):
 *
 *   firehose  the workload as fast as the daemon takes it (at most `window` events sent and not yet
 *             written): the events/s the drain is compared with, measured the same way, in the same run.
 *   outage    the database cut, every event of the workload sent (memory, then the spool), the
 *             database restored: seconds from the restore to the first write and to the last commit,
 *             drain events/s, peak RSS, peak spool bytes; then every row against its expected state.
 *
 * How the database is cut:
 * - external: DATABASE_URL points at a TCP proxy on 127.0.0.1 (src/simulator/tcp-proxy.ts). Cut: every
 *   connection destroyed and new ones refused (what a restarting or unreachable server looks like).
 *   Restore: connections forwarded again.
 * - embedded: no proxy can sit between the daemon and its embedded database: the daemon starts the
 *   database process itself and connects to 127.0.0.1:EMBEDDED_PG_PORT, the port it gave that process,
 *   and there is no setting for a different client address. The database process is frozen instead
 *   (SIGSTOP): connections stay open and nothing answers, a hang as the daemon meets it when a server
 *   stops responding (statements are cut after DATABASE_TIMEOUT_MS, events held over a second go to the
 *   spool). Restore: SIGCONT. A statement sent before the freeze is answered at once after it, so the
 *   first write after this restore says less than the proxy's (no reconnect, no backoff).
 *
 * Progress is the daemon's own counters on /metrics, every `pollMs` (50 ms): `tributary_events_written_total`
 * (commits), `tributary_spool_bytes` and `tributary_buffer_events` (sampled; peaks are the largest
 * sample). A time is that of the poll whose answer first shows the change: an upper bound, late by at
 * most one interval plus the scrape (its longest is in the results). Both runs use the same clock.
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FakeBptfServer } from '../src/simulator/bptf-server.js';
import { TcpProxy } from '../src/simulator/tcp-proxy.js';
import { delay } from '../src/util/delay.js';
import { daemonConnected, freePort, scrapeMetrics, startDaemon, type Daemon, type DaemonMode } from './daemon.js';
import { checkFinalState, checkpoint, openDb, recreateDatabase, serverInfo, type FinalStateCheck } from './db.js';
import { descendants } from './embedded.js';
import { settle } from './gc.js';
import { cpuSeconds, sampleRss, statusKb } from './rss.js';
import type { Workload } from './workload.js';

export interface OutageOptions {
  readonly serverUrl: string;
  readonly dbName: string;
  readonly embedded: boolean;
  readonly mode: DaemonMode;
  readonly entry?: string;
  readonly env: Record<string, string>;
  /** Built with `expectRows` (the check compares every row, payload included). */
  readonly workload: Workload;
  /** Firehose run: most events sent and not yet written. */
  readonly window: number;
  /** /metrics poll interval (ms). */
  readonly pollMs: number;
  /** Longest wait for the last commit, in each run (ms). */
  readonly drainTimeoutMs: number;
  readonly log: (line: string) => void;
}

export interface OutageResult {
  target: 'external' | 'embedded';
  cut_method: string;
  events: number;
  listings: number;
  firehose: {
    events_per_s: number;
    elapsed_s: number;
    /** CPU per event over first send .. last commit (µs): the daemon, and the database (its backends, or the embedded database's process). */
    daemon_cpu_us_per_event: number;
    database_cpu_us_per_event: number;
    peak_rss_mb: number;
  };
  /** First send .. every event received by the daemon (s), with the database cut. */
  send_s: number;
  /** Cut .. restore (s). */
  cut_s: number;
  /** At the restore: events in memory, bytes in the spool. */
  at_restore: { buffer_events: number; spool_bytes: number };
  /** Restore .. the first commit: seen at the table for the external target, else on /metrics (s). */
  restore_to_first_write_s: number;
  first_write_seen_by: string;
  /** The same on /metrics, late by the scrape (s). */
  restore_to_first_write_metrics_s: number;
  restore_to_last_commit_s: number;
  /** events / restore_to_last_commit_s. */
  drain_events_per_s: number;
  /** drain_events_per_s / firehose.events_per_s. */
  drain_over_firehose: number;
  /** Over restore .. last commit (µs per event). */
  drain_daemon_cpu_us_per_event: number;
  drain_database_cpu_us_per_event: number;
  /** The daemon's peak RSS over the outage run (kernel VmHWM, MB), and the largest spool and buffer sampled. */
  peak_rss_mb: number;
  /** Embedded: the database process's peak RSS (VmHWM, MB), not in peak_rss_mb. */
  database_peak_rss_mb?: number;
  peak_spool_bytes: number;
  peak_buffer_events: number;
  /** Spool bytes left at the last commit (0: the spool drained). */
  spool_bytes_at_end: number;
  check: FinalStateCheck;
  daemon_metrics: Record<string, number>;
  polls: { count: number; mean_ms: number; max_ms: number };
  postgres_version?: string;
}

interface Sample {
  /** When the poll was sent and when its answer came (ms since the epoch). */
  readonly sent: number;
  readonly at: number;
  readonly m: Record<string, number>;
}

/** /metrics every `pollMs`, kept as a series; callers wait on conditions over the newest sample. */
class MetricsPoller {
  readonly samples: Sample[] = [];
  #running = true;
  #error: unknown;
  readonly #loop: Promise<void>;
  constructor(
    readonly port: number,
    readonly pollMs: number,
  ) {
    this.#loop = this.#run();
  }
  async #run(): Promise<void> {
    while (this.#running) {
      const sent = Date.now();
      try {
        const m = await scrapeMetrics(this.port);
        this.samples.push({ sent, at: Date.now(), m });
      } catch (err) {
        this.#error = err;
        return;
      }
      await delay(Math.max(0, sent + this.pollMs - Date.now()));
    }
  }
  get last(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }
  /** Resolves with the first sample (from now on) that satisfies `ok`; rejects after `timeoutMs`. */
  async waitFor(ok: (m: Record<string, number>) => boolean, timeoutMs: number, what: string): Promise<Sample> {
    const deadline = Date.now() + timeoutMs;
    let seen = this.samples.length;
    for (;;) {
      if (this.#error) throw this.#error;
      for (; seen < this.samples.length; seen++) {
        const s = this.samples[seen] as Sample;
        if (ok(s.m)) return s;
      }
      if (Date.now() > deadline) throw new Error(`bench: ${what} not seen after ${timeoutMs} ms (last: ${JSON.stringify(this.last?.m ?? {})})`);
      await delay(Math.max(1, this.pollMs / 5));
    }
  }
  max(name: string, from = 0): number {
    let x = 0;
    for (const s of this.samples) if (s.sent >= from) x = Math.max(x, s.m[name] ?? 0);
    return x;
  }
  stats(): OutageResult['polls'] {
    const d = this.samples.map((s) => s.at - s.sent);
    return { count: d.length, mean_ms: d.length ? Math.round(d.reduce((a, b) => a + b, 0) / d.length) : 0, max_ms: d.length ? Math.max(...d) : 0 };
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

/**
 * CPU seconds of the database's share of the work. External: the Postgres backends serving the
 * daemon (pg_stat_activity, application_name 'tributary'); connections come and go across a cut,
 * so they are looked up every 250 ms and each one's last reading is kept (a backend that exited
 * keeps the CPU it had at its last reading). Embedded: the daemon's child processes (the database).
 */
class DatabaseCpu {
  readonly #last = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;
  #busy = false;
  constructor(
    readonly find: () => Promise<number[]>,
    intervalMs = 250,
  ) {
    this.#timer = setInterval(() => void this.refresh(), intervalMs);
  }
  async refresh(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const pids = await this.find().catch(() => [] as number[]);
      for (const pid of new Set([...pids, ...this.#last.keys()])) {
        const s = cpuSeconds(pid);
        if (s !== undefined) this.#last.set(pid, s);
      }
    } finally {
      this.#busy = false;
    }
  }
  /** Readings now: pass one to `since` later. */
  async snapshot(): Promise<Map<number, number>> {
    await this.refresh();
    return new Map(this.#last);
  }
  /** CPU seconds used since `from` (a backend started since counts whole). */
  async since(from: Map<number, number>): Promise<number> {
    await this.refresh();
    let sum = 0;
    for (const [pid, s] of this.#last) sum += s - (from.get(pid) ?? 0);
    return sum;
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

interface Running {
  readonly daemon: Daemon;
  readonly server: FakeBptfServer;
  readonly poller: MetricsPoller;
  /**
   * Stop the daemon (SIGTERM), run `between`, start a new one on the same DATA_DIR and database, and
   * wait until it is connected; `daemon` and `poller` are the new ones after. Resolves with the new
   * daemon's spawn time (ms since the epoch).
   */
  restart(between: () => void): Promise<number>;
  readonly dbCpu: DatabaseCpu;
  /** Where the bench reads rows: the bench's database directly (not through the proxy), or the embedded server. */
  readonly checkUrl: string;
  readonly proxy?: TcpProxy;
  /** Embedded: the database's process(es). */
  readonly dbPids: readonly number[];
  /** The daemon's DATA_DIR (its spool under spool/). */
  readonly dataDir: string;
  stop(): Promise<void>;
}

async function start(o: OutageOptions): Promise<Running> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tributary-bench-outage-'));
  // DATA_DIR of its own: the spool goes to DATA_DIR/spool.
  const env: Record<string, string> = { ...o.env, DATA_DIR: dataDir };
  let checkUrl: string;
  let databaseUrl: string | undefined;
  let proxy: TcpProxy | undefined;
  let admin: pg.Pool | undefined;
  if (o.embedded) {
    const port = await freePort();
    env.EMBEDDED_PG_PORT = String(port);
    checkUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  } else {
    checkUrl = await recreateDatabase(o.serverUrl, o.dbName);
    proxy = TcpProxy.forUrl(checkUrl);
    await proxy.start();
    databaseUrl = proxy.rewrite(checkUrl);
    admin = new pg.Pool({ connectionString: checkUrl, max: 1, application_name: 'tributary-bench' });
    admin.on('error', () => undefined);
  }
  // Room for the whole workload at once (216 000 events of 2-3 KiB: about 500 MB): the daemon is measured, not this server.
  const server = new FakeBptfServer({ maxBufferedBytes: 2048 * 1024 * 1024 });
  await server.start();
  const httpPort = await freePort();
  const cleanUp = async () => {
    await server.stop();
    await proxy?.stop();
    await admin?.end().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  };
  let daemon: Daemon;
  const launch = () => startDaemon({ mode: o.mode, databaseUrl, bptfUrl: server.url, httpPort, env, entry: o.entry });
  try {
    daemon = launch();
  } catch (err) {
    await cleanUp();
    throw err;
  }
  const stopDaemon = async () => {
    const code = await daemon.stop();
    if (code !== 0) o.log(`warning: daemon exited with ${code}:\n${daemon.output().slice(-2000)}`);
  };
  const stopAll = async () => {
    await stopDaemon();
    await cleanUp();
  };
  try {
    await daemonConnected(daemon, server, 120_000);
  } catch (err) {
    await stopAll();
    throw err;
  }
  if (!o.embedded) {
    const b = openDb(checkUrl, 1);
    await checkpoint(b); // the migration's dirty pages are not this run's work
    await b.close();
  }
  const dbPids = o.embedded ? descendants(daemon.pid) : [];
  const findBackends = admin
    ? async () =>
        (await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tributary'`, [o.dbName])).rows.map((r) => r.pid)
    : () => Promise.resolve([...dbPids]);
  const dbCpu = new DatabaseCpu(findBackends);
  await settle();
  let poller = new MetricsPoller(httpPort, o.pollMs);
  return {
    get daemon() {
      return daemon;
    },
    server,
    get poller() {
      return poller;
    },
    dbCpu,
    checkUrl,
    proxy,
    dbPids,
    dataDir,
    async restart(between) {
      await poller.stop();
      await stopDaemon();
      between();
      const at = Date.now();
      daemon = launch();
      await daemonConnected(daemon, server, 120_000);
      // The feed may connect before the operations server listens.
      for (let tries = 0; ; tries++) {
        try {
          await scrapeMetrics(httpPort);
          break;
        } catch (err) {
          if (tries >= 200) throw err;
          await delay(50);
        }
      }
      poller = new MetricsPoller(httpPort, o.pollMs);
      return at;
    },
    async stop() {
      dbCpu.stop();
      await poller.stop();
      await stopAll();
    },
  };
}

const written = (m: Record<string, number>) => m.tributary_events_written_total ?? 0;

/**
 * Held past a second, events go to the spool (checked every 250 ms): wait until the spool stops growing
 * for a second (at most 15 s), so the restore meets the backlog at rest, as after a long outage.
 */
async function spoolAtRest(r: Running, pollMs: number): Promise<void> {
  let stableSince = Date.now();
  let lastSpool = -1;
  const settleDeadline = Date.now() + 15_000;
  while (Date.now() < settleDeadline && Date.now() - stableSince < 1000) {
    await delay(pollMs);
    const s = r.poller.last?.m.tributary_spool_bytes ?? 0;
    if (s !== lastSpool) {
      lastSpool = s;
      stableSince = Date.now();
    }
  }
}
const round = (x: number, d: number) => Number(x.toFixed(d));

/** Every row against the workload's expected final state, on a connection of its own; `also` runs on it after. */
async function finalState(url: string, workload: Workload, also?: (c: pg.Client) => Promise<void>): Promise<FinalStateCheck> {
  const c = new pg.Client({ connectionString: url, application_name: 'tributary-bench' });
  await c.connect();
  try {
    const check = await checkFinalState(c, workload.finalRows);
    await also?.(c);
    return check;
  } finally {
    await c.end();
  }
}

async function firehose(o: OutageOptions): Promise<OutageResult['firehose']> {
  const r = await start(o);
  try {
    const rss = sampleRss(r.daemon.pid, 100);
    const cpu0 = { daemon: cpuSeconds(r.daemon.pid) ?? 0, db: await r.dbCpu.snapshot() };
    const t0 = Date.now();
    let sent = 0;
    for (const frame of o.workload.frames) {
      // Back-pressure on the written counter: the daemon's memory buffer must not overflow into the spool.
      while (sent > 0 && sent + frame.events - written(r.poller.last?.m ?? {}) > o.window) await delay(Math.max(1, o.pollMs / 5));
      if (!r.server.sendFrame(frame.data)) throw new Error('bench: the fake server dropped a frame (client not reading)');
      sent += frame.events;
    }
    const done = await r.poller.waitFor((m) => written(m) >= o.workload.events, o.drainTimeoutMs, `firehose: ${o.workload.events} events written`);
    const daemonCpu = (cpuSeconds(r.daemon.pid) ?? 0) - cpu0.daemon;
    const dbCpu = await r.dbCpu.since(cpu0.db);
    rss.stop();
    const elapsedS = (done.at - t0) / 1000;
    return {
      events_per_s: Math.round(o.workload.events / elapsedS),
      elapsed_s: round(elapsedS, 2),
      daemon_cpu_us_per_event: Math.round((daemonCpu / o.workload.events) * 1e6),
      database_cpu_us_per_event: Math.round((dbCpu / o.workload.events) * 1e6),
      peak_rss_mb: round(rss.hwmMb, 1),
    };
  } finally {
    await r.stop();
  }
}

async function outage(o: OutageOptions, fire: OutageResult['firehose']): Promise<OutageResult> {
  const r = await start(o);
  const n = o.workload.events;
  try {
    const rss = sampleRss(r.daemon.pid, 100);
    // Cut.
    const tCut = Date.now();
    if (r.proxy) r.proxy.cut();
    else for (const pid of r.dbPids) process.kill(pid, 'SIGSTOP');
    const t0 = Date.now();
    for (const frame of o.workload.frames) {
      // All at once, as a backlog arrives at the daemon's socket: the server buffers what the daemon has not read yet.
      if (!r.server.sendFrame(frame.data)) throw new Error('bench: the fake server dropped a frame (client not reading)');
    }
    const received = await r.poller.waitFor((m) => (m.tributary_events_received_total ?? 0) >= n, o.drainTimeoutMs, `${n} events received`);
    const sendS = (received.at - t0) / 1000;
    await spoolAtRest(r, o.pollMs);
    const atRestore = r.poller.last?.m ?? {};
    if (written(atRestore) > 0) o.log(`warning: ${written(atRestore)} events were written while the database was cut`);
    const cpu0 = { daemon: cpuSeconds(r.daemon.pid) ?? 0, db: await r.dbCpu.snapshot() };
    // External: the first commit is also watched at the database (the table is empty until then),
    // connected before the restore: a scrape of /metrics waits for the daemon's event loop, which
    // reading the spool keeps busy (up to 1-2 s), while this poll does not.
    const firstRow = r.proxy ? await watchFirstRow(r.checkUrl, o.pollMs, o.drainTimeoutMs) : undefined;
    // Restore.
    const tRestore = Date.now();
    if (r.proxy) r.proxy.restore();
    else for (const pid of r.dbPids) process.kill(pid, 'SIGCONT');
    const w0 = written(atRestore);
    const first = await r.poller.waitFor((m) => written(m) > w0, o.drainTimeoutMs, 'the first write after the restore');
    const firstRowAt = await firstRow?.at;
    const last = await r.poller.waitFor((m) => written(m) >= n, o.drainTimeoutMs, `${n} events written`);
    const daemonCpu = (cpuSeconds(r.daemon.pid) ?? 0) - cpu0.daemon;
    const dbCpu = await r.dbCpu.since(cpu0.db);
    rss.stop();
    const dbHwmKb = r.dbPids.reduce((sum, pid) => sum + (statusKb(pid, 'VmHWM') ?? 0), 0);
    const drainS = (last.at - tRestore) / 1000;
    let version: string | undefined;
    const check = await finalState(r.checkUrl, o.workload, async (c) => {
      if (o.embedded) version = (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v;
    });
    const drain = n / drainS;
    return {
      target: o.embedded ? 'embedded' : 'external',
      cut_method: o.embedded ? 'SIGSTOP of the embedded database process (SIGCONT to restore)' : 'TCP proxy: connections destroyed and refused (forwarded again to restore)',
      events: n,
      listings: o.workload.listingsTouched,
      firehose: fire,
      send_s: round(sendS, 2),
      cut_s: round((tRestore - tCut) / 1000, 2),
      at_restore: { buffer_events: atRestore.tributary_buffer_events ?? 0, spool_bytes: atRestore.tributary_spool_bytes ?? 0 },
      restore_to_first_write_s: round(((firstRowAt ?? first.at) - tRestore) / 1000, 3),
      first_write_seen_by: firstRowAt === undefined ? '/metrics (tributary_events_written_total)' : 'the table (its first row), polled directly',
      restore_to_first_write_metrics_s: round((first.at - tRestore) / 1000, 3),
      restore_to_last_commit_s: round(drainS, 2),
      drain_events_per_s: Math.round(drain),
      drain_over_firehose: round(drain / fire.events_per_s, 2),
      drain_daemon_cpu_us_per_event: Math.round((daemonCpu / n) * 1e6),
      drain_database_cpu_us_per_event: Math.round((dbCpu / n) * 1e6),
      peak_rss_mb: round(rss.hwmMb, 1),
      database_peak_rss_mb: o.embedded ? round(dbHwmKb / 1024, 1) : undefined,
      peak_spool_bytes: r.poller.max('tributary_spool_bytes'),
      peak_buffer_events: r.poller.max('tributary_buffer_events'),
      spool_bytes_at_end: last.m.tributary_spool_bytes ?? 0,
      check,
      daemon_metrics: last.m,
      polls: r.poller.stats(),
      postgres_version: version,
    };
  } finally {
    // A failed run must not leave the database process frozen (the daemon's stop would wait on it).
    for (const pid of r.dbPids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    await r.stop();
  }
}

/**
 * Polls `SELECT EXISTS (SELECT 1 FROM bptf_listings)` every `pollMs` on its own connection; `at`
 * resolves with the time (ms since the epoch) of the first answer that saw a row: an upper bound on
 * the first commit, late by at most one interval and a query of a millisecond or so.
 */
async function watchFirstRow(url: string, pollMs: number, timeoutMs: number): Promise<{ at: Promise<number> }> {
  const c = new pg.Client({ connectionString: url, application_name: 'tributary-bench-poll' });
  await c.connect();
  const at = (async () => {
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const sent = Date.now();
        const r = await c.query<{ e: boolean }>('SELECT EXISTS (SELECT 1 FROM bptf_listings) AS e');
        if (r.rows[0]?.e) return Date.now();
        if (Date.now() > deadline) throw new Error(`bench: no row in bptf_listings ${timeoutMs} ms after the restore`);
        await delay(Math.max(0, sent + pollMs - Date.now()));
      }
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  at.catch(() => undefined); // awaited by the caller; never an unhandled rejection meanwhile
  return { at };
}

/** The firehose run, then the outage run, on one target. */
export async function runOutage(o: OutageOptions): Promise<OutageResult> {
  const target = o.embedded ? 'embedded database' : 'external Postgres';
  o.log(`outage (${target}): firehose of the same ${o.workload.events.toLocaleString('en-US')} events, window ${o.window.toLocaleString('en-US')}`);
  const fire = await firehose(o);
  o.log(`  ${fire.events_per_s.toLocaleString('en-US')} events/s; CPU per event: daemon ${fire.daemon_cpu_us_per_event} us, database ${fire.database_cpu_us_per_event} us`);
  o.log(`outage (${target}): database cut (${o.embedded ? 'SIGSTOP' : 'TCP proxy'}), ${o.workload.events.toLocaleString('en-US')} events sent, then restored`);
  const r = await outage(o, fire);
  o.log(
    `  restore -> first write ${r.restore_to_first_write_s} s, -> last commit ${r.restore_to_last_commit_s} s (${r.drain_events_per_s.toLocaleString('en-US')} events/s, ` +
      `${r.drain_over_firehose} of the firehose); peak RSS ${r.peak_rss_mb} MB, peak spool ${(r.peak_spool_bytes / 1048576).toFixed(1)} MiB; wrong rows ${r.check.wrongRows}`,
  );
  return r;
}

/** Bytes of the files under `dir` (recursively). */
function bytesUnder(dir: string): number {
  let sum = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    sum += e.isDirectory() ? bytesUnder(p) : statSync(p).size;
  }
  return sum;
}

/** `--phases outage-restart`: the outage's backlog, then a restart before the database returns. */
export interface RestartResult {
  events: number;
  /** SIGTERM .. the old daemon's exit, with the database still cut (s): its held events go to the spool. */
  stop_s: number;
  /** Spool bytes the old daemon left. */
  spool_bytes_left: number;
  /** The new daemon's spawn .. its last commit (s): every event written from the spool it found. */
  start_to_last_commit_s: number;
  /** events / start_to_last_commit_s. */
  replay_events_per_s: number;
  check: FinalStateCheck;
}

/**
 * The same backlog as the outage run, but the daemon is stopped (SIGTERM) while the database is still
 * cut, and a new one started on the same DATA_DIR once it is back: how fast a spool an earlier run
 * left is written. External Postgres only (the embedded database is the daemon's own child).
 */
export async function runRestartReplay(o: OutageOptions): Promise<RestartResult> {
  if (o.embedded) throw new Error('bench: --phases outage-restart needs an external Postgres');
  const n = o.workload.events;
  o.log(`outage-restart: database cut, ${n.toLocaleString('en-US')} events sent, the daemon stopped, the database restored, a new daemon started`);
  const r = await start(o);
  try {
    r.proxy?.cut();
    for (const frame of o.workload.frames) {
      if (!r.server.sendFrame(frame.data)) throw new Error('bench: the fake server dropped a frame (client not reading)');
    }
    await r.poller.waitFor((m) => (m.tributary_events_received_total ?? 0) >= n, o.drainTimeoutMs, `${n} events received`);
    await spoolAtRest(r, o.pollMs);
    const tStop = Date.now();
    let stoppedAt = 0;
    let spoolLeft = 0;
    const startedAt = await r.restart(() => {
      stoppedAt = Date.now();
      spoolLeft = bytesUnder(join(r.dataDir, 'spool'));
      r.proxy?.restore();
    });
    const last = await r.poller.waitFor((m) => (m.tributary_events_replayed_total ?? 0) >= n, o.drainTimeoutMs, `${n} events replayed`);
    const check = await finalState(r.checkUrl, o.workload);
    const s = (last.at - startedAt) / 1000;
    const out: RestartResult = {
      events: n,
      stop_s: round((stoppedAt - tStop) / 1000, 2),
      spool_bytes_left: spoolLeft,
      start_to_last_commit_s: round(s, 2),
      replay_events_per_s: Math.round(n / s),
      check,
    };
    o.log(`  stop ${out.stop_s} s; new daemon's start -> last commit ${out.start_to_last_commit_s} s (${out.replay_events_per_s.toLocaleString('en-US')} events/s); wrong rows ${check.wrongRows}`);
    return out;
  } finally {
    await r.stop();
  }
}

/** Postgres version of the external server (for results written by an outage-only run). */
export async function externalVersion(serverUrl: string, dbName: string): Promise<string> {
  const b = openDb(await recreateDatabase(serverUrl, dbName), 1);
  try {
    return (await serverInfo(b)).version;
  } finally {
    await b.close();
  }
}
