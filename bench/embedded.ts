/**
 * `npm run bench -- --embedded`: the embedded database (PGlite, what `npm start` runs without
 * DATABASE_URL) against an external Postgres, side by side, in one run, the targets alternated.
 *
 * For each target, two runs of the real daemon (child process, fresh DATA_DIR, fresh database):
 *
 *   steady   the real rate (backpack.tf 60 events/s, frames every 100 ms, over 5 000 listings as the
 *            simulator sends) for `steadySeconds`: RSS of the daemon and of the database process when
 *            it is a separate one (mean of the last third, largest sample, kernel peak), CPU.
 *   growth   the table grown to each of `rows` (10 000, 100 000, 500 000) by inserts of new listings
 *            as fast as the daemon takes them, and at each size `mixedEvents` events of the real mix
 *            over the rows there (90 % updates, 10 % deletes): events/s of each segment, RSS at each size.
 *
 * Progress is read from the daemon's own counter (`tributary_events_written_total` on /metrics), not
 * from the database: PGlite runs one statement at a time, and polling it would slow what is measured.
 * At most `inflight` events are sent and not yet written (the daemon's memory buffer must not
 * overflow). A segment's rate = its events / (time the counter reached its last event - time it reached
 * its first), the times interpolated between polls; segments follow each other without a pause, so each
 * starts with the daemon busy. After the run the rows are checked through `pg` (count, and a sample of
 * listings at their newest event).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FakeBptfServer } from '../src/simulator/bptf-server.js';
import { delay } from '../src/util/delay.js';
import { daemonConnected, freePort, scrapeMetrics, startDaemon, type Daemon, type DaemonMode } from './daemon.js';
import { checkpoint, dropDatabase, openDb, recreateDatabase } from './db.js';
import { settle } from './gc.js';
import { cpuSeconds, statusKb } from './rss.js';
import { EventStream } from './stream.js';

export interface Target {
  /** Column name in the results. */
  readonly name: string;
  readonly embedded: boolean;
  /** Another compiled main.js (e.g. a build of the code before a change). */
  readonly entry?: string;
  /** Extra daemon environment of this target only. */
  readonly env?: Record<string, string>;
}

export interface EmbeddedBenchOptions {
  readonly serverUrl: string;
  readonly dbName: string;
  readonly mode: DaemonMode;
  readonly env: Record<string, string>;
  readonly targets: readonly Target[];
  readonly rounds: number;
  readonly phases: ReadonlySet<string>;
  readonly steadyRate: number;
  readonly steadySeconds: number;
  readonly steadyListings: number;
  readonly rows: readonly number[];
  readonly mixedEvents: number;
  readonly frameSize: number;
  readonly inflight: number;
  /** Poll of the daemon's written counter (ms). */
  readonly pollMs: number;
  /** Write a V8 CPU profile of each daemon into this directory (node --cpu-prof). */
  readonly cpuProfileDir?: string;
  readonly log: (line: string) => void;
}

const MB = 1024 * 1024;

function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  const kb = statusKb(pid, field);
  return kb === undefined ? undefined : kb / 1024;
}

/** Every process started by `pid`, and theirs (the embedded database when it runs in a process of its own). */
export function descendants(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

interface RssSample {
  readonly t: number;
  readonly daemon: number;
  /** Sum over the daemon's child processes (0 when the database runs inside the daemon or elsewhere). */
  readonly db: number;
  /**
   * Proportional set size of the daemon and its children together (MB), every fifth sample: pages
   * two of them share (Node's own code) counted once, so this is what they take from the machine.
   */
  readonly pss?: number;
}

function pssMb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** RSS of the daemon and of its children every `intervalMs`, kept as a series (MB). */
class ProcessSampler {
  readonly samples: RssSample[] = [];
  readonly #timer: NodeJS.Timeout;
  #ticks = 0;
  constructor(
    readonly daemonPid: number,
    readonly dbPids: readonly number[],
    intervalMs: number,
  ) {
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), intervalMs);
  }
  #tick(): void {
    const daemon = statusMb(this.daemonPid, 'VmRSS');
    if (daemon === undefined) return;
    const db = this.dbPids.reduce((s, p) => s + (statusMb(p, 'VmRSS') ?? 0), 0);
    // smaps_rollup walks the page tables: read less often than VmRSS.
    const pss = this.#ticks++ % 5 === 0 ? [this.daemonPid, ...this.dbPids].reduce((s, p) => s + pssMb(p), 0) : undefined;
    this.samples.push({ t: Date.now(), daemon, db, pss });
  }
  stop(): void {
    this.#tick();
    clearInterval(this.#timer);
  }
  /** The run's RSS figures: the samples' summary, and the peak since each process started (kernel VmHWM), MB. */
  facts(): RunFacts['rss'] {
    const daemonHwm = statusMb(this.daemonPid, 'VmHWM') ?? 0;
    const dbHwm = this.dbPids.reduce((s, p) => s + (statusMb(p, 'VmHWM') ?? 0), 0);
    return { ...rssSummary(this.samples), daemon_hwm_mb: round1(daemonHwm), db_hwm_mb: round1(dbHwm) };
  }
  /** The sample nearest to time `t`. */
  at(t: number): RssSample | undefined {
    let best: RssSample | undefined;
    for (const s of this.samples) if (!best || Math.abs(s.t - t) < Math.abs(best.t - t)) best = s;
    return best;
  }
  cpu(): { daemon: number; db: number } {
    return { daemon: cpuSeconds(this.daemonPid) ?? 0, db: this.dbPids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0) };
  }
}

interface Running {
  readonly target: Target;
  readonly daemon: Daemon;
  readonly server: FakeBptfServer;
  readonly httpPort: number;
  /** Where the bench reads rows: the embedded server's port, or the bench's database. */
  readonly url: string;
  readonly dataDir: string;
  readonly readyMs: number;
  readonly sampler: ProcessSampler;
  stop(): Promise<void>;
}

async function startTarget(target: Target, o: EmbeddedBenchOptions): Promise<Running> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tributary-bench-'));
  const env: Record<string, string> = { ...o.env, ...target.env, DATA_DIR: dataDir };
  let url: string;
  if (target.embedded) {
    const port = await freePort();
    env.EMBEDDED_PG_PORT = String(port);
    url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  } else {
    url = await recreateDatabase(o.serverUrl, o.dbName);
  }
  // Room for `inflight` events of 2-3 KiB at once: the daemon is measured, not this server.
  const server = new FakeBptfServer({ maxBufferedBytes: 1024 * MB });
  await server.start();
  const httpPort = await freePort();
  const started = Date.now();
  const daemon = startDaemon({ mode: o.mode, databaseUrl: target.embedded ? undefined : url, bptfUrl: server.url, httpPort, env, entry: target.entry, cpuProfileDir: o.cpuProfileDir });
  const stop = async () => {
    const code = await daemon.stop();
    if (code !== 0) o.log(`warning: daemon exited with ${code}:\n${daemon.output().slice(-2000)}`);
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await daemonConnected(daemon, server, 120_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const readyMs = Date.now() - started;
  if (!target.embedded) {
    const b = openDb(url, 1);
    await checkpoint(b); // the migration's dirty pages are not this run's work
    await b.close();
  }
  await settle();
  const sampler = new ProcessSampler(daemon.pid, descendants(daemon.pid), 200);
  return {
    target,
    daemon,
    server,
    httpPort,
    url,
    dataDir,
    readyMs,
    sampler,
    async stop() {
      sampler.stop();
      await stop();
    },
  };
}

async function written(r: Running): Promise<number> {
  const m = await scrapeMetrics(r.httpPort);
  return m.tributary_events_written_total ?? 0;
}

/** Resolves once the daemon has written `n` events; rejects after `timeoutMs`. Polls every `pollMs`. */
async function waitWritten(r: Running, n: number, timeoutMs: number, pollMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const w = await written(r);
    if (w >= n) return;
    if (Date.now() > deadline) throw new Error(`bench: ${n - w} events not written after ${timeoutMs} ms (${r.target.name})`);
    await delay(pollMs);
  }
}

async function duMb(path: string): Promise<number | undefined> {
  try {
    return Number(execFileSync('du', ['-sk', path], { encoding: 'utf8' }).split('\t')[0]) / 1024;
  } catch {
    return undefined;
  }
}

interface TableFacts {
  rows: number;
  table_mb: number;
  dead_rows: number | null;
  /** Embedded only: DATA_DIR/pglite on disk, and its WAL. */
  data_dir_mb?: number;
  wal_dir_mb?: number;
}

async function tableFacts(r: Running, check: ReadonlyMap<string, string>): Promise<TableFacts & { wrong_rows: number; checked_rows: number }> {
  const c = new pg.Client({ connectionString: r.url, application_name: 'tributary-bench' });
  await c.connect();
  try {
    const n = await c.query<{ n: string; mb: string }>(`SELECT count(*) AS n, pg_total_relation_size('bptf_listings') / 1048576.0 AS mb FROM bptf_listings`);
    const dead = await c.query<{ d: string | null }>(`SELECT n_dead_tup AS d FROM pg_stat_user_tables WHERE relname = 'bptf_listings'`).catch(() => ({ rows: [] as { d: string | null }[] }));
    const ids = [...check.keys()];
    const wrong = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM unnest($1::text[], $2::text[]) AS e(id, event_id) LEFT JOIN bptf_listings t ON t.id = e.id
       WHERE t.id IS NULL OR t.event_id <> e.event_id`,
      [ids, ids.map((id) => check.get(id) as string)],
    );
    const facts: TableFacts & { wrong_rows: number; checked_rows: number } = {
      rows: Number(n.rows[0]?.n ?? 0),
      table_mb: Number(Number(n.rows[0]?.mb ?? 0).toFixed(1)),
      dead_rows: dead.rows[0]?.d == null ? null : Number(dead.rows[0].d),
      wrong_rows: Number(wrong.rows[0]?.n ?? 0),
      checked_rows: ids.length,
    };
    if (r.target.embedded) {
      facts.data_dir_mb = await duMb(join(r.dataDir, 'pglite'));
      facts.wal_dir_mb = await duMb(join(r.dataDir, 'pglite', 'pg_wal'));
    }
    return facts;
  } finally {
    await c.end();
  }
}

/** Up to `n` listings drawn evenly from those sent, with their newest event ids. */
function sampleOf(all: ReadonlyMap<string, string>, n: number): Map<string, string> {
  const step = Math.max(1, Math.floor(all.size / n));
  const out = new Map<string, string>();
  let i = 0;
  for (const [k, v] of all) if (i++ % step === 0) out.set(k, v);
  return out;
}

const round1 = (x: number) => Number(x.toFixed(1));

function rssSummary(samples: readonly RssSample[]) {
  const last = samples.slice(Math.floor((samples.length * 2) / 3));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    pss_mean_mb: round1(mean(last.flatMap((s) => (s.pss === undefined ? [] : [s.pss])))),
    daemon_mean_mb: round1(mean(last.map((s) => s.daemon))),
    db_mean_mb: round1(mean(last.map((s) => s.db))),
    total_mean_mb: round1(mean(last.map((s) => s.daemon + s.db))),
    daemon_max_mb: round1(Math.max(...samples.map((s) => s.daemon))),
    db_max_mb: round1(Math.max(...samples.map((s) => s.db))),
    total_max_mb: round1(Math.max(...samples.map((s) => s.daemon + s.db))),
  };
}

/** What every run of a target reports. */
interface RunFacts {
  target: string;
  /** From spawn to the first upstream connection (ms). */
  ready_ms: number;
  events: number;
  rss: ReturnType<typeof rssSummary> & { daemon_hwm_mb: number; db_hwm_mb: number };
  table: TableFacts & { wrong_rows: number; checked_rows: number };
}

export interface SteadyResult extends RunFacts {
  rate: number;
  seconds: number;
  /** Events not yet written when the last frame was sent + 2 s. */
  backlog: number;
  /** CPU used over the run, % of one core. */
  cpu_pct: { daemon: number; db: number };
}

async function runSteadyTarget(target: Target, o: EmbeddedBenchOptions): Promise<SteadyResult> {
  const r = await startTarget(target, o);
  try {
    const stream = new EventStream({ seed: 7 });
    const frameMs = 100;
    const perFrame = Math.max(1, Math.round((o.steadyRate * frameMs) / 1000));
    const frames = Math.round((o.steadySeconds * 1000) / frameMs);
    const cpu0 = r.sampler.cpu();
    const t0 = Date.now();
    for (let i = 0; i < frames; i++) {
      const wait = t0 + i * frameMs - Date.now();
      if (wait > 0) await delay(wait);
      r.server.sendFrame(stream.mixed(o.steadyListings, perFrame));
    }
    await delay(2000);
    const backlog = stream.events - (await written(r));
    const cpu1 = r.sampler.cpu();
    const elapsedS = (Date.now() - t0) / 1000;
    r.sampler.stop();
    const rss = r.sampler.facts();
    await waitWritten(r, stream.events, 60_000, 200);
    return {
      target: target.name,
      ready_ms: r.readyMs,
      rate: o.steadyRate,
      seconds: o.steadySeconds,
      events: stream.events,
      backlog,
      rss,
      cpu_pct: { daemon: round1(((cpu1.daemon - cpu0.daemon) / elapsedS) * 100), db: round1(((cpu1.db - cpu0.db) / elapsedS) * 100) },
      table: await tableFacts(r, sampleOf(stream.finalEventIds, 2000)),
    };
  } finally {
    await r.stop();
  }
}

interface Segment {
  readonly name: string;
  readonly rows: number;
  readonly kind: 'inserts' | 'mixed';
  /** Inserts: the first new listing's index. */
  readonly firstListing: number;
  /** Events [from, to) of the run. */
  readonly from: number;
  readonly to: number;
}

export interface GrowthResult extends RunFacts {
  elapsed_s: number;
  events_per_s: number;
  segments: {
    name: string;
    kind: string;
    rows: number;
    events: number;
    events_per_s: number;
    /** events/s of each fifth of the segment: a rate that falls while the row count stays shows here. */
    fifths: number[];
    rss_daemon_mb: number;
    rss_db_mb: number;
  }[];
  /** CPU seconds per 1 000 events. */
  cpu_s_per_1000: { daemon: number; db: number };
}

async function runGrowthTarget(target: Target, o: EmbeddedBenchOptions): Promise<GrowthResult> {
  const r = await startTarget(target, o);
  try {
    const stream = new EventStream({ seed: 11 });
    const segments: Segment[] = [];
    let rows = 0;
    let events = 0;
    for (const n of o.rows) {
      segments.push({ name: `inserts ${fmtRows(rows)} -> ${fmtRows(n)}`, rows: n, kind: 'inserts', firstListing: rows, from: events, to: events + (n - rows) });
      events += n - rows;
      rows = n;
      segments.push({ name: `mixed at ${fmtRows(n)} rows`, rows: n, kind: 'mixed', firstListing: 0, from: events, to: events + o.mixedEvents });
      events += o.mixedEvents;
    }
    // Progress: (time, written) every pollMs, while the frames go out.
    const progress: { t: number; w: number }[] = [];
    let polling = true;
    let lastWritten = 0;
    let pollError: unknown;
    const poller = (async () => {
      while (polling) {
        const t = Date.now();
        try {
          lastWritten = await written(r);
          progress.push({ t, w: lastWritten });
        } catch (err) {
          pollError = err;
          return;
        }
        await delay(Math.max(0, t + o.pollMs - Date.now()));
      }
    })();
    const cpu0 = r.sampler.cpu();
    const t0 = Date.now();
    progress.push({ t: t0, w: 0 });
    let sent = 0;
    for (const seg of segments) {
      let listing = seg.firstListing;
      for (let at = seg.from; at < seg.to; at += o.frameSize) {
        const n = Math.min(o.frameSize, seg.to - at);
        while (sent - lastWritten + n > o.inflight) {
          if (pollError) throw pollError;
          await delay(Math.max(1, o.pollMs / 4));
        }
        r.server.sendFrame(seg.kind === 'inserts' ? stream.inserts(listing, n) : stream.mixed(seg.rows, n));
        listing += n;
        sent += n;
      }
    }
    await waitWritten(r, sent, 300_000, o.pollMs);
    polling = false;
    await poller;
    const tEnd = Date.now();
    progress.push({ t: tEnd, w: sent });
    const cpu1 = r.sampler.cpu();
    r.sampler.stop();
    const rss = r.sampler.facts();
    // When the counter first reached x, interpolated between polls (x = 0: the first send).
    const reached = (x: number): number => {
      if (x <= 0) return t0;
      for (let i = 1; i < progress.length; i++) {
        const a = progress[i - 1] as { t: number; w: number };
        const b = progress[i] as { t: number; w: number };
        if (b.w >= x) return b.w === a.w ? b.t : a.t + ((x - a.w) / (b.w - a.w)) * (b.t - a.t);
      }
      return tEnd;
    };
    const elapsedS = (tEnd - t0) / 1000;
    return {
      target: target.name,
      ready_ms: r.readyMs,
      events: sent,
      elapsed_s: round1(elapsedS),
      events_per_s: Math.round(sent / elapsedS),
      segments: segments.map((seg) => {
        const a = reached(seg.from);
        const b = reached(seg.to);
        const at = r.sampler.at(b);
        const fifth = (seg.to - seg.from) / 5;
        const fifths = [0, 1, 2, 3, 4].map((k) => {
          const x = seg.from + k * fifth;
          return Math.round((fifth / Math.max(1, reached(x + fifth) - reached(x))) * 1000);
        });
        return {
          name: seg.name,
          kind: seg.kind,
          rows: seg.rows,
          events: seg.to - seg.from,
          events_per_s: Math.round(((seg.to - seg.from) / Math.max(1, b - a)) * 1000),
          fifths,
          rss_daemon_mb: round1(at?.daemon ?? 0),
          rss_db_mb: round1(at?.db ?? 0),
        };
      }),
      rss,
      cpu_s_per_1000: { daemon: Number((((cpu1.daemon - cpu0.daemon) / sent) * 1000).toFixed(3)), db: Number((((cpu1.db - cpu0.db) / sent) * 1000).toFixed(3)) },
      table: await tableFacts(r, sampleOf(stream.finalEventIds, 5000)),
    };
  } finally {
    await r.stop();
  }
}

function fmtRows(n: number): string {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

export interface EmbeddedBenchResult {
  steady: SteadyResult[];
  growth: GrowthResult[];
}

/** Every target's steady run, then every target's growth run, `rounds` times: the targets alternate. */
export async function runEmbeddedBench(o: EmbeddedBenchOptions): Promise<EmbeddedBenchResult> {
  const out: EmbeddedBenchResult = { steady: [], growth: [] };
  try {
    for (let round = 1; round <= o.rounds; round++) {
      const tag = o.rounds > 1 ? ` (round ${round}/${o.rounds})` : '';
      if (o.phases.has('steady')) {
        for (const t of o.targets) {
          o.log(`steady${tag}, ${t.name}: ${o.steadyRate} events/s for ${o.steadySeconds} s over ${o.steadyListings} listings`);
          const s = await runSteadyTarget(t, o);
          if (s.table.wrong_rows > 0) throw new Error(`steady (${t.name}): ${s.table.wrong_rows} of ${s.table.checked_rows} checked rows not at their newest event`);
          o.log(
            `  ready in ${(s.ready_ms / 1000).toFixed(1)} s; RSS daemon ${s.rss.daemon_mean_mb} MB + database process ${s.rss.db_mean_mb} MB ` +
              `(max ${s.rss.total_max_mb}, peak daemon ${s.rss.daemon_hwm_mb} / db ${s.rss.db_hwm_mb}); CPU ${s.cpu_pct.daemon} % + ${s.cpu_pct.db} %; backlog ${s.backlog}`,
          );
          out.steady.push(s);
        }
      }
      if (o.phases.has('growth')) {
        for (const t of o.targets) {
          o.log(`growth${tag}, ${t.name}: to ${o.rows.map(fmtRows).join(', ')} rows, ${o.mixedEvents} mixed events at each`);
          const g = await runGrowthTarget(t, o);
          if (g.table.wrong_rows > 0) throw new Error(`growth (${t.name}): ${g.table.wrong_rows} of ${g.table.checked_rows} checked rows not at their newest event`);
          for (const seg of g.segments) {
            o.log(`  ${seg.name.padEnd(22)} ${String(seg.events_per_s).padStart(7)} events/s (by fifths ${seg.fifths.join(', ')})  RSS ${seg.rss_daemon_mb} + ${seg.rss_db_mb} MB`);
          }
          o.log(`  overall ${g.events_per_s} events/s; peak RSS daemon ${g.rss.daemon_hwm_mb} MB, db ${g.rss.db_hwm_mb} MB; table ${g.table.table_mb} MB, ${g.table.rows} rows, dead ${g.table.dead_rows ?? '-'}`);
          out.growth.push(g);
        }
      }
    }
  } finally {
    if (o.targets.some((t) => !t.embedded)) await dropDatabase(o.serverUrl, o.dbName).catch(() => undefined);
  }
  return out;
}

/** Side by side: one column per target; rates are the best of the rounds, RSS the mean of the rounds. */
export function embeddedTable(o: EmbeddedBenchOptions, r: EmbeddedBenchResult): string[][] {
  const names = o.targets.map((t) => t.name);
  const rows: string[][] = [['measure', ...names]];
  const of = <T extends { target: string }>(xs: readonly T[], name: string) => xs.filter((x) => x.target === name);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const best = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
  const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
  const row = (label: string, fn: (name: string) => string) => rows.push([label, ...names.map(fn)]);
  if (r.steady.length > 0) {
    row('ready after start (s)', (n) => f(mean(of(r.steady, n).map((s) => s.ready_ms / 1000)), 1));
    row(`steady ${o.steadyRate}/s: RSS daemon (MB)`, (n) => f(mean(of(r.steady, n).map((s) => s.rss.daemon_mean_mb))));
    row(`steady: RSS database process (MB)`, (n) => f(mean(of(r.steady, n).map((s) => s.rss.db_mean_mb))));
    row(`steady: RSS total, mean / max (MB)`, (n) => `${f(mean(of(r.steady, n).map((s) => s.rss.total_mean_mb)))} / ${f(best(of(r.steady, n).map((s) => s.rss.total_max_mb)))}`);
    row(`steady: PSS total, shared pages once (MB)`, (n) => f(mean(of(r.steady, n).map((s) => s.rss.pss_mean_mb))));
    row(`steady: peak RSS daemon / db (MB)`, (n) => `${f(best(of(r.steady, n).map((s) => s.rss.daemon_hwm_mb)))} / ${f(best(of(r.steady, n).map((s) => s.rss.db_hwm_mb)))}`);
    row(`steady: CPU daemon + db (% of a core)`, (n) => f(mean(of(r.steady, n).map((s) => s.cpu_pct.daemon + s.cpu_pct.db)), 1));
  }
  if (r.growth.length > 0) {
    const segNames = r.growth[0]?.segments.map((s) => s.name) ?? [];
    for (const sn of segNames) row(`${sn} (events/s)`, (n) => f(best(of(r.growth, n).map((g) => g.segments.find((s) => s.name === sn)?.events_per_s ?? NaN))));
    row('growth overall (events/s)', (n) => f(best(of(r.growth, n).map((g) => g.events_per_s))));
    for (const sn of segNames.filter((s) => s.startsWith('mixed'))) {
      row(`RSS ${sn.replace('mixed ', '')}, daemon + db (MB)`, (n) => {
        const segs = of(r.growth, n).map((g) => g.segments.find((s) => s.name === sn));
        return `${f(mean(segs.map((s) => s?.rss_daemon_mb ?? NaN)))} + ${f(mean(segs.map((s) => s?.rss_db_mb ?? NaN)))}`;
      });
    }
    row('growth: peak RSS daemon / db (MB)', (n) => `${f(best(of(r.growth, n).map((g) => g.rss.daemon_hwm_mb)))} / ${f(best(of(r.growth, n).map((g) => g.rss.db_hwm_mb)))}`);
    row('growth: CPU s per 1 000 events, daemon + db', (n) => f(mean(of(r.growth, n).map((g) => g.cpu_s_per_1000.daemon + g.cpu_s_per_1000.db)), 3));
    row('table at the end (MB)', (n) => f(mean(of(r.growth, n).map((g) => g.table.table_mb))));
    row('embedded data dir / of it WAL (MB)', (n) =>
      of(r.growth, n)[0]?.table.data_dir_mb === undefined
        ? '-'
        : `${f(mean(of(r.growth, n).map((g) => g.table.data_dir_mb ?? NaN)))} / ${f(mean(of(r.growth, n).map((g) => g.table.wal_dir_mb ?? NaN)))}`,
    );
  }
  return rows;
}
