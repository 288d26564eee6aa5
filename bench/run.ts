/**
 * `npm run bench [-- options]`: tributary against the limit, on this machine and this Postgres.
 *
 *   1. firehose  the real daemon (child process) fed by the fake backpack.tf server as fast as it takes it
 *   2. limit     the same rows written straight into the same table by the best batched upsert found
 *   3. naive     one INSERT ... ON CONFLICT per event
 *   4. steady    1 000 events/s for 30 s: lag and RSS at a normal rate
 *   5. outage    the database cut through a TCP proxy while 216 000 events arrive, then restored: time to
 *                the first write and to the last commit, drain rate against a firehose of the same
 *                events, peak RSS and spool, every row checked (outage.ts)
 *
 * Prints a table and writes bench/results/latest.json. `--quick` runs everything with smaller counts
 * in under a minute. `--embedded` runs the embedded database (PGlite) against this Postgres instead,
 * see embedded.ts. Only loopback: the fake server listens on 127.0.0.1, and the database is
 * DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432), in a database of the bench's
 * own (`tributary_bench_<checkout tag>`, dropped and created again for every phase, dropped at the end).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDaemon, CHECKOUT_TAG, ROOT, type DaemonMode } from './daemon.js';
import type { DaemonRunResult } from './daemon-run.js';
import { embeddedTable, runEmbeddedBench, type Target } from './embedded.js';
import { DEFAULT_SERVER_URL, dropDatabase, openDb, recreateDatabase, serverInfo, type ServerInfo } from './db.js';
import { runFirehose } from './firehose.js';
import { runLimit, TABLE_VARIANTS, type LimitRun } from './limit.js';
import { runPipeline } from './pipeline.js';
import { runNaive, type NaiveRun } from './naive.js';
import { runOutage, runRestartReplay, type OutageOptions, type OutageResult } from './outage.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import { SHAPES, type Shape } from './shapes.js';
import { runSteady } from './steady.js';
import { buildWorkload, type Workload } from './workload.js';

const USAGE = `Usage: npm run bench -- [options]

  --quick                 smaller counts, whole run under a minute
  --events <n>            firehose / limit events (default 200000; quick 20000)
  --listings <n>          distinct listings (default 50000; quick 5000)
  --frame-size <n>        events per frame (default 100)
  --batch <n>             BATCH_MAX_EVENTS for the daemon and the limit (default 1000)
  --batch-wait <ms>       BATCH_MAX_WAIT_MS for the daemon (default 200, the daemon's default)
  --window <n>            firehose: most events sent and not yet committed (default 4 x batch)
  --naive-events <n>      events for the naive way (default 20000; quick 3000)
  --steady-rate <n>       steady events/s (default 1000)
  --steady-seconds <n>    steady duration (default 30; quick 10)
  --phases <list>         any of pipeline,firehose,limit,naive,steady,outage (default all), and outage-restart
                          (not in the default: the outage's backlog, the daemon stopped before the
                          database returns, a new daemon writing the spool it left)
  --outage-events <n>     outage: events sent while the database is cut (default 216000, an hour's backlog
                          at 60 events/s; quick 21600; --events when given)
  --shapes <list>         limit statement shapes: ${SHAPES.map((s) => s.name).join(',')} (default all; quick repository,copy,unnest)
  --concurrency <list>    limit: batches in flight (default 2; the best shape is also run with 1 and 3)
  --rounds <n>            end to end and the chosen limit statement, alternately, n times each; the best
                          of each is reported (default 3; quick 1)
  --table <name>          table variant after migrating, for limit and daemon runs: ${Object.keys(TABLE_VARIANTS).join(', ')}
  --daemon <mode>         compiled (default: tsc into node_modules/.cache) or tsx
  --daemon-entry <file>   run this compiled main.js as the daemon instead (e.g. a build of the code before a change)
  --profile               one more firehose run, with node --cpu-prof on the daemon: writes the profile to
                          bench/results/profiles and prints where the daemon's time goes
  --env <K=V>             extra daemon environment (repeatable)
  --out <file>            results file (default bench/results/latest.json; embedded.json with --embedded)
  --keep-db               leave the bench's database (tributary_bench_<checkout>) as the last phase left it,
                          to EXPLAIN its statements
  -h, --help

  --embedded              the embedded database (PGlite) against this Postgres, side by side: RSS at the real
                          rate (steady) and events/s as the table grows (growth); about 5 minutes, quick 1.5.
                          Uses --steady-rate (default 60), --steady-seconds (default 60; quick 20), --rounds
                          (default 1), --frame-size, --phases (steady,growth,outage), --daemon, --daemon-entry, --env,
                          --profile (a CPU profile of each daemon in bench/results/profiles), and:
  --targets <list>        embedded,external (default both; in this order, alternated by round)
  --compare-entry <file>  one more embedded target running this compiled main.js (before/after in one run)
  --variant <name:K=V>    one more embedded target with this daemon environment (repeatable)
  --rows <list>           table sizes to grow to (default 10000,100000,500000; quick 10000,50000)
  --mixed-events <n>      events of the real mix at each size (default 30000; quick 10000)
  --inflight <n>          growth: most events sent and not yet written (default 10 x batch)
  --steady-listings <n>   listings the steady traffic updates (default 5000, the simulator's)
`;

interface Settings {
  quick: boolean;
  events: number;
  listings: number;
  frameSize: number;
  batch: number;
  batchWaitMs: number;
  window: number;
  naiveEvents: number;
  steadyRate: number;
  steadySeconds: number;
  phases: Set<string>;
  shapes: Shape[];
  concurrency: number[];
  rounds: number;
  table: string;
  daemon: DaemonMode;
  daemonEntry: string | undefined;
  profile: boolean;
  env: Record<string, string>;
  out: string;
  serverUrl: string;
  dbName: string;
  embedded: boolean;
  targets: Target[];
  rows: number[];
  mixedEvents: number;
  inflight: number;
  steadyListings: number;
  outageEvents: number;
  keepDb: boolean;
}

function parseSettings(): Settings {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      events: { type: 'string' },
      listings: { type: 'string' },
      'frame-size': { type: 'string' },
      batch: { type: 'string' },
      'batch-wait': { type: 'string' },
      window: { type: 'string' },
      'naive-events': { type: 'string' },
      'steady-rate': { type: 'string' },
      'steady-seconds': { type: 'string' },
      phases: { type: 'string' },
      shapes: { type: 'string' },
      concurrency: { type: 'string' },
      rounds: { type: 'string' },
      table: { type: 'string' },
      daemon: { type: 'string' },
      'daemon-entry': { type: 'string' },
      profile: { type: 'boolean', default: false },
      env: { type: 'string', multiple: true },
      out: { type: 'string' },
      'keep-db': { type: 'boolean', default: false },
      embedded: { type: 'boolean', default: false },
      targets: { type: 'string' },
      'compare-entry': { type: 'string' },
      variant: { type: 'string', multiple: true },
      rows: { type: 'string' },
      'mixed-events': { type: 'string' },
      inflight: { type: 'string' },
      'steady-listings': { type: 'string' },
      'outage-events': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const int = (v: string | undefined, dflt: number, name: string) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const batch = int(values.batch, 1000, 'batch');
  // Quick: the repository's statement against the two the issue names (COPY, unnest arrays), to stay under a minute.
  const shapeNames = values.shapes?.split(',') ?? (quick ? ['repository', 'copy', 'unnest'] : SHAPES.map((s) => s.name));
  const shapes = shapeNames.map((n) => {
    const s = SHAPES.find((x) => x.name === n);
    if (!s) throw new Error(`unknown shape ${n}`);
    return s;
  });
  const table = values.table ?? 'default';
  if (!(table in TABLE_VARIANTS)) throw new Error(`unknown table variant ${table}`);
  const daemon = (values.daemon ?? 'compiled') as DaemonMode;
  if (daemon !== 'compiled' && daemon !== 'tsx') throw new Error('--daemon must be compiled or tsx');
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--env ${kv}: expected K=V`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const embedded = values.embedded ?? false;
  const targets: Target[] = (values.targets?.split(',') ?? ['embedded', 'external']).map((t) => {
    if (t !== 'embedded' && t !== 'external') throw new Error('--targets: embedded and/or external');
    return { name: t, embedded: t === 'embedded', entry: values['daemon-entry'] };
  });
  if (values['compare-entry']) targets.push({ name: 'embedded (compare)', embedded: true, entry: values['compare-entry'] });
  for (const v of values.variant ?? []) {
    const m = /^([^:]+):([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(v);
    if (!m) throw new Error(`--variant ${v}: expected name:K=V`);
    targets.push({ name: m[1] as string, embedded: true, entry: values['daemon-entry'], env: { [m[2] as string]: m[3] as string } });
  }
  const serverUrl = process.env.DATABASE_URL ?? DEFAULT_SERVER_URL;
  const host = new URL(serverUrl).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) throw new Error(`bench: refusing a non-loopback database (${host})`);
  return {
    quick,
    events: int(values.events, quick ? 20_000 : 200_000, 'events'),
    listings: int(values.listings, quick ? 5_000 : 50_000, 'listings'),
    frameSize: int(values['frame-size'], 100, 'frame-size'),
    batch,
    batchWaitMs: int(values['batch-wait'], 200, 'batch-wait'),
    window: int(values.window, 4 * batch, 'window'),
    naiveEvents: int(values['naive-events'], quick ? 3_000 : 20_000, 'naive-events'),
    steadyRate: int(values['steady-rate'], embedded ? 60 : 1000, 'steady-rate'),
    steadySeconds: int(values['steady-seconds'], embedded ? (quick ? 20 : 60) : quick ? 10 : 30, 'steady-seconds'),
    phases: new Set(values.phases?.split(',') ?? (embedded ? ['steady', 'growth', 'outage'] : ['pipeline', 'firehose', 'limit', 'naive', 'steady', 'outage'])),
    shapes,
    concurrency: values.concurrency?.split(',').map((c) => int(c, 2, 'concurrency')) ?? [2],
    rounds: int(values.rounds, quick || embedded ? 1 : 3, 'rounds'),
    table,
    daemon,
    daemonEntry: values['daemon-entry'],
    profile: values.profile ?? false,
    env,
    out: values.out ?? join(ROOT, 'bench', 'results', embedded ? 'embedded.json' : 'latest.json'),
    serverUrl,
    dbName: `tributary_bench_${CHECKOUT_TAG}`,
    embedded,
    targets,
    rows: values.rows?.split(',').map((r) => int(r, 0, 'rows')) ?? (quick ? [10_000, 50_000] : [10_000, 100_000, 500_000]),
    mixedEvents: int(values['mixed-events'], quick ? 10_000 : 30_000, 'mixed-events'),
    inflight: int(values.inflight, 10 * batch, 'inflight'),
    steadyListings: int(values['steady-listings'], 5000, 'steady-listings'),
    outageEvents: int(values['outage-events'] ?? values.events, quick ? 21_600 : 216_000, 'outage-events'),
    keepDb: values['keep-db'] ?? false,
  };
}

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
    return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

/**
 * The most events/s the machine's cores allow when each event costs `daemonUs` of the daemon's CPU
 * and `postgresUs` of its Postgres backends' (µs): cores × 1e6 / (daemon + postgres).
 */
function cpuBound(cores: number, daemonUs: number, postgresUs: number): number {
  return (cores * 1e6) / (daemonUs + postgresUs);
}

/** The outage phase's rows of the summary table. */
function outageRows(o: OutageResult, targets?: Record<string, boolean | null>): string[][] {
  const ok = (v: boolean | null | undefined) => (v === null || v === undefined ? '' : v ? 'yes' : 'NO');
  const tag = `outage ${o.target === 'embedded' ? 'embedded' : 'external'} (${fmt(o.events)} events)`;
  return [
    [`${tag}: restore -> first write`, `${fmt(o.restore_to_first_write_s, 2)} s`, '<= 0.5 s', ok(targets?.outage_first_write_le_0_5_s)],
    [`${tag}: restore -> last commit`, `${fmt(o.restore_to_last_commit_s, 1)} s`, '<= 20 s', ok(targets?.outage_restore_to_last_commit_le_20_s)],
    [`${tag}: drain / firehose (same run)`, `${fmt(o.drain_events_per_s)} / ${fmt(o.firehose.events_per_s)} = ${fmt(o.drain_over_firehose, 2)}`, '>= 0.9', ok(targets?.outage_drain_over_firehose_ge_0_9)],
    [`${tag}: peak RSS / peak spool`, `${fmt(o.peak_rss_mb, 1)} MB / ${fmt(o.peak_spool_bytes / 1048576, 1)} MiB`, '<= 200 MB', ok(targets?.outage_peak_rss_le_200_mb)],
    [`${tag}: wrong rows`, `${fmt(o.check.wrongRows)} of ${fmt(o.check.expected)}`, '0', ok(targets?.outage_wrong_rows_0)],
  ];
}

function daemonSummary(r: DaemonRunResult) {
  return {
    events: r.events,
    events_per_s: Math.round(r.eventsPerS),
    elapsed_ms: Math.round(r.elapsedMs),
    lag_ms: { p50: r.lag.p50, p99: r.lag.p99, max: r.lag.max, mean: Math.round(r.lag.mean) },
    peak_rss_mb: Number(r.peakRssMb.toFixed(1)),
    idle_rss_mb: Number(r.idleRssMb.toFixed(1)),
    max_sampled_rss_mb: Number(r.maxSampledRssMb.toFixed(1)),
    mean_rss_mb: Number(r.meanRssMb.toFixed(1)),
    daemon_cpu_s: Number(r.daemonCpuS.toFixed(2)),
    daemon_cpu_us_per_event: Math.round((r.daemonCpuS / r.events) * 1e6),
    postgres_backend_cpu_s: Number(r.postgresCpuS.toFixed(2)),
    postgres_cpu_us_per_event: Math.round((r.postgresCpuS / r.events) * 1e6),
    bench_process_cpu_s: Number(r.benchCpuS.toFixed(2)),
    bench_process_cpu_us_per_event: Math.round((r.benchCpuS / r.events) * 1e6),
    machine_cpu_busy: Number(r.machineBusy.toFixed(2)),
    wal_mb: Number(r.walMb.toFixed(1)),
    table: r.table,
    missing_rows: r.missingRows,
    wrong_rows: r.wrongRows,
    daemon_metrics: r.daemonMetrics,
    polls: r.polls,
  };
}

async function main(): Promise<void> {
  const s = parseSettings();
  // Bounded in time whatever happens (a stuck phase must not hold the shared machine).
  // The outage phase adds two daemon runs per target (a firehose and the outage: 2-4 minutes at full size).
  const outageS = s.phases.has('outage') ? (s.quick ? 120 : 600) * (s.embedded ? s.targets.length : 1) : 0;
  const restartS = s.phases.has('outage-restart') ? (s.quick ? 120 : 300) : 0;
  const watchdogS = (s.embedded ? (s.quick ? 300 : 900) * s.rounds : s.quick ? 180 : 1200) + outageS + restartS;
  setTimeout(() => {
    log(`bench: still running after ${watchdogS} s; giving up`);
    process.exit(2);
  }, watchdogS * 1000).unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));
  const startedAt = new Date();
  const t0 = Date.now();
  const machine = {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    memory_mb: Math.round(totalmem() / 1048576),
    load_avg_at_start: loadavg().map((l) => Number(l.toFixed(2))),
  };
  log(`machine: ${machine.cpus} cpus (${machine.model}), ${machine.memory_mb} MB, load ${machine.load_avg_at_start.join(' ')}`);

  if (s.embedded) return embedded(s, { machine, startedAt, t0 });
  let pg: ServerInfo;
  {
    const b = openDb(await recreateDatabase(s.serverUrl, s.dbName), 1);
    pg = await serverInfo(b);
    await b.close();
  }
  log(`postgres: ${pg.version.split(' ').slice(0, 2).join(' ')}`);

  const results: Record<string, unknown> = {};
  const summary = {
    events_per_s: undefined as number | undefined,
    limit_rows_per_s: undefined as number | undefined,
    ratio_to_limit: undefined as number | undefined,
    naive_events_per_s: undefined as number | undefined,
    lag_p50_ms: undefined as number | undefined,
    lag_p99_ms: undefined as number | undefined,
    steady_lag_p50_ms: undefined as number | undefined,
    steady_lag_p99_ms: undefined as number | undefined,
    peak_rss_mb: undefined as number | undefined,
    idle_rss_mb: undefined as number | undefined,
    steady_peak_rss_mb: undefined as number | undefined,
    // The CPU bound (issue 23): the cores / (daemon + its Postgres backends' CPU per event, firehose), events/s.
    daemon_cpu_us_per_event: undefined as number | undefined,
    // The daemon's parse, rows and batch encoding alone, in a child process (pipeline.ts): µs per event, best round.
    pipeline_cpu_us_per_event: undefined as number | undefined,
    pipeline_gc_us_per_event: undefined as number | undefined,
    postgres_cpu_us_per_event: undefined as number | undefined,
    cpu_bound_events_per_s: undefined as number | undefined,
    end_to_end_over_cpu_bound: undefined as number | undefined,
    // Outage (outage.ts): seconds, events/s ratio, MB, bytes, rows.
    outage_events: undefined as number | undefined,
    outage_restore_to_first_write_s: undefined as number | undefined,
    outage_restore_to_last_commit_s: undefined as number | undefined,
    outage_drain_events_per_s: undefined as number | undefined,
    outage_firehose_events_per_s: undefined as number | undefined,
    outage_drain_over_firehose: undefined as number | undefined,
    // The drain against the firehose phase's best round too: on a shared machine the outage phase's
    // single firehose can be slowed by a neighbour and flatter the ratio above.
    outage_drain_over_best_firehose: undefined as number | undefined,
    outage_peak_rss_mb: undefined as number | undefined,
    outage_peak_spool_bytes: undefined as number | undefined,
    outage_wrong_rows: undefined as number | undefined,
  };

  const daemonEnv = { BATCH_MAX_EVENTS: String(s.batch), BATCH_MAX_WAIT_MS: String(s.batchWaitMs), ...s.env };
  const needsDaemon = s.phases.has('firehose') || s.phases.has('steady') || s.phases.has('outage') || s.phases.has('outage-restart') || s.profile;
  if (needsDaemon && s.daemon === 'compiled' && !s.daemonEntry) {
    const ms = buildDaemon(log);
    log(ms ? `compiled the daemon in ${(ms / 1000).toFixed(1)} s` : 'daemon build is up to date');
  }

  // The generator costs about 100 us an event: skipped when only the outage phase (which has its own) runs.
  const mainWorkload = ['firehose', 'limit', 'naive'].some((p) => s.phases.has(p)) || s.profile;
  if (mainWorkload) log(`generating ${fmt(s.events)} events over ${fmt(s.listings)} listings...`);
  const workload = buildWorkload({ events: mainWorkload ? s.events : 0, listings: s.listings, frameSize: s.frameSize });
  if (mainWorkload) log(`  ${workload.frames.length} frames, ${fmt(workload.bytes / 1048576, 1)} MiB, ${fmt(workload.bytes / workload.events)} B/event, ${workload.listingsTouched} listings touched`);

  const firehose = (cpuProfileDir?: string) =>
    runFirehose({
      serverUrl: s.serverUrl,
      dbName: s.dbName,
      mode: s.daemon,
      workload,
      pollMs: 20,
      env: daemonEnv,
      tableSql: TABLE_VARIANTS[s.table],
      cpuProfileDir,
      entry: s.daemonEntry,
      drainTimeoutMs: 120_000,
      windowEvents: s.window,
      log,
    });
  const describe = (r: DaemonRunResult) =>
    `${fmt(r.eventsPerS)} events/s, lag p50 ${r.lag.p50} ms p99 ${r.lag.p99} ms max ${r.lag.max} ms, peak RSS ${fmt(r.peakRssMb, 1)} MB (${fmt(r.idleRssMb, 1)} before the first frame), ` +
    `CPU per event: daemon ${fmt((r.daemonCpuS / r.events) * 1e6)} us, postgres backends ${fmt((r.postgresCpuS / r.events) * 1e6)} us, ` +
    `bench ${fmt((r.benchCpuS / r.events) * 1e6)} us; machine ${fmt(r.machineBusy * 100)} % busy` +
    quoteDelay(r.daemonMetrics);
  // BPTF_QUOTES: listings' commit -> their quotes' commit, as the daemon measured it (ms).
  const quoteDelay = (m: Record<string, number>) => {
    const q = (p: string) => m[`tributary_quote_delay_seconds_q${p}`];
    const p50 = q('0.5');
    return p50 === undefined ? '' : `; quote delay p50 ${fmt(p50 * 1000)} ms p99 ${fmt((q('0.99') ?? NaN) * 1000)} ms max ${fmt((q('1') ?? NaN) * 1000)} ms`;
  };

  const limitSummary = (r: LimitRun) => ({
    shape: r.shape,
    concurrency: r.concurrency,
    table: r.table,
    rows_per_s: Math.round(r.eventsPerS),
    elapsed_ms: Math.round(r.elapsedMs),
    wal_mb: Number(r.walMb.toFixed(1)),
    hot_share: r.stats.hotShare,
    table_mb: Number(r.stats.tableMb.toFixed(1)),
    avg_payload_bytes: r.stats.avgPayloadBytes,
    client_cpu_us_per_row: Math.round(r.clientCpuUsPerEvent),
    postgres_cpu_us_per_row: Math.round(r.postgresCpuUsPerEvent),
    machine_cpu_busy: Number(r.machineBusy.toFixed(2)),
  });

  if (s.phases.has('pipeline')) {
    // At least 3 rounds: they take seconds, and the first warms the JIT up. The child builds the main workload again (same seed).
    const n = Math.max(s.rounds, 3);
    log(`pipeline: parse, rows and batch documents in a child process, no socket or database, ${n} rounds`);
    const rounds = await runPipeline({ workload: { events: s.events, listings: s.listings, frameSize: s.frameSize }, batchSize: s.batch, rounds: n });
    const bestRound = rounds.reduce((a, b) => (b.cpuUsPerEvent < a.cpuUsPerEvent ? b : a));
    log(`  CPU per event ${rounds.map((r) => fmt(r.cpuUsPerEvent, 1)).join(', ')} us; collector pauses ${rounds.map((r) => fmt(r.gcUsPerEvent, 1)).join(', ')} us`);
    results.pipeline = rounds.map((r) => ({ events: r.events, cpu_us_per_event: Number(r.cpuUsPerEvent.toFixed(2)), gc_us_per_event: Number(r.gcUsPerEvent.toFixed(2)) }));
    summary.pipeline_cpu_us_per_event = Number(bestRound.cpuUsPerEvent.toFixed(1));
    summary.pipeline_gc_us_per_event = Number(bestRound.gcUsPerEvent.toFixed(1));
  }

  // 1. The limit's statement: every shape with 2 batches in flight, then the fastest with 1 and 3.
  let comparison: LimitRun[] = [];
  let choice: { shape: Shape; concurrency: number } | undefined;
  const runLimitOnce = async (shape: Shape, concurrency: number) => {
    const r = await runLimit({ serverUrl: s.serverUrl, dbName: s.dbName, workload, batchSize: s.batch, shape, concurrency, table: s.table });
    log(
      `  ${shape.name.padEnd(10)} x${concurrency}: ${fmt(r.eventsPerS)} rows/s (WAL ${fmt(r.walMb)} MB, HOT ${fmt((r.stats.hotShare ?? 0) * 100)} %, ` +
        `payload ${r.stats.avgPayloadBytes} B, CPU per row: client ${fmt(r.clientCpuUsPerEvent)} us, postgres backends ${fmt(r.postgresCpuUsPerEvent)} us; machine ${fmt(r.machineBusy * 100)} % busy)`,
    );
    return r;
  };
  if (s.phases.has('limit')) {
    log('limit: comparing statement shapes');
    // Untimed warm-up (JIT, the driver's buffers, the collector's pacing), so the first shape is not favoured.
    await runLimit({ serverUrl: s.serverUrl, dbName: s.dbName, workload: { ...workload, frames: workload.frames.slice(0, 100) }, batchSize: s.batch, shape: s.shapes[0] as Shape, concurrency: 2 });
    for (const c of s.concurrency) for (const shape of s.shapes) comparison.push(await runLimitOnce(shape, c));
    const fastest = comparison.reduce((x, y) => (y.eventsPerS > x.eventsPerS ? y : x));
    const fastestShape = s.shapes.find((x) => x.name === fastest.shape) as Shape;
    for (const c of [1, 3]) if (!s.concurrency.includes(c)) comparison.push(await runLimitOnce(fastestShape, c));
    comparison = comparison.sort((x, y) => y.eventsPerS - x.eventsPerS);
    const best = comparison[0] as LimitRun;
    choice = { shape: s.shapes.find((x) => x.name === best.shape) as Shape, concurrency: best.concurrency };
  }

  // 2. End to end against the limit: alternating rounds, best of each (noise on a shared machine only
  //    ever slows a run down; alternating exposes both to the same neighbours; the comparison runs
  //    above are left out, so picking the fastest of them does not favour the limit).
  const firehoseRuns: DaemonRunResult[] = [];
  const limitRounds: LimitRun[] = [];
  for (let round = 1; round <= s.rounds; round++) {
    if (s.phases.has('firehose')) {
      log(`firehose${s.rounds > 1 ? ` (round ${round}/${s.rounds})` : ''}: ${fmt(s.events)} events, window ${fmt(s.window)} events, daemon ${s.daemonEntry ?? s.daemon}`);
      const r = await firehose();
      if (r.missingRows || r.wrongRows) throw new Error(`firehose: ${r.missingRows} rows missing, ${r.wrongRows} rows not at their newest event`);
      log(`  ${describe(r)}`);
      firehoseRuns.push(r);
    }
    if (choice) {
      log(`limit${s.rounds > 1 ? ` (round ${round}/${s.rounds})` : ''}: ${choice.shape.name} x${choice.concurrency}`);
      limitRounds.push(await runLimitOnce(choice.shape, choice.concurrency));
    }
  }
  if (firehoseRuns.length > 0) {
    const r = firehoseRuns.reduce((x, y) => (y.eventsPerS > x.eventsPerS ? y : x));
    results.firehose = { ...daemonSummary(r), rounds: firehoseRuns.map((x) => daemonSummary(x)) };
    summary.events_per_s = Math.round(r.eventsPerS);
    summary.lag_p50_ms = r.lag.p50;
    summary.lag_p99_ms = r.lag.p99;
    summary.peak_rss_mb = Number(Math.max(...firehoseRuns.map((x) => x.peakRssMb)).toFixed(1));
    summary.idle_rss_mb = Number(Math.min(...firehoseRuns.map((x) => x.idleRssMb)).toFixed(1));
    // The best run's own CPU: the bound and the rate it is compared with come from the same run.
    summary.daemon_cpu_us_per_event = Math.round((r.daemonCpuS / r.events) * 1e6);
    summary.postgres_cpu_us_per_event = Math.round((r.postgresCpuS / r.events) * 1e6);
  }
  let limitBest: LimitRun | undefined;
  if (choice && limitRounds.length > 0) {
    limitBest = limitRounds.reduce((x, y) => (y.eventsPerS > x.eventsPerS ? y : x));
    results.limit = {
      best: limitSummary(limitBest),
      rounds: limitRounds.map(limitSummary),
      comparison: comparison.map(limitSummary),
    };
    summary.limit_rows_per_s = Math.round(limitBest.eventsPerS);
  }

  let profile: ProfileSummary | undefined;
  if (s.profile) {
    // A run of its own: the profiler's overhead must not touch the figures above.
    const profileDir = join(ROOT, 'bench', 'results', 'profiles');
    rmSync(profileDir, { recursive: true, force: true });
    log('firehose again, with node --cpu-prof on the daemon...');
    const r = await firehose(profileDir);
    log(`  ${describe(r)} (profiled)`);
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) {
      profile = summarizeProfile(join(profileDir, file));
      results.profile = { file: join('bench', 'results', 'profiles', file), events_per_s_while_profiled: Math.round(r.eventsPerS), ...profile };
    }
  }

  let naiveRuns: NaiveRun[] = [];
  if (s.phases.has('naive')) {
    const frames = workload.frames.slice(0, Math.ceil(s.naiveEvents / s.frameSize));
    for (const concurrency of [1, 6]) {
      log(`naive: one upsert per event, ${concurrency} in flight...`);
      const r = await runNaive({ serverUrl: s.serverUrl, dbName: s.dbName, frames, concurrency });
      log(`  ${fmt(r.eventsPerS)} events/s over ${fmt(r.events)} events`);
      naiveRuns.push(r);
    }
    naiveRuns = naiveRuns.sort((a, b) => a.concurrency - b.concurrency);
    results.naive = naiveRuns.map((r) => ({ concurrency: r.concurrency, events: r.events, events_per_s: Math.round(r.eventsPerS), elapsed_ms: Math.round(r.elapsedMs) }));
    summary.naive_events_per_s = Math.round((naiveRuns[0] as NaiveRun).eventsPerS);
  }

  if (s.phases.has('steady')) {
    const events = s.steadyRate * s.steadySeconds;
    const frameIntervalMs = 100;
    const frameSize = Math.max(1, Math.round((s.steadyRate * frameIntervalMs) / 1000));
    log(`steady: ${fmt(s.steadyRate)} events/s for ${s.steadySeconds} s (${frameSize} events every ${frameIntervalMs} ms)`);
    const steadyWorkload = buildWorkload({ events, listings: s.listings, frameSize, seed: 7 });
    const r = await runSteady({
      serverUrl: s.serverUrl,
      dbName: s.dbName,
      mode: s.daemon,
      workload: steadyWorkload,
      pollMs: 10,
      env: daemonEnv,
      tableSql: TABLE_VARIANTS[s.table],
      entry: s.daemonEntry,
      drainTimeoutMs: 30_000,
      frameIntervalMs,
      log,
    });
    if (r.missingRows || r.wrongRows) throw new Error(`steady: ${r.missingRows} rows missing, ${r.wrongRows} rows not at their newest event`);
    results.steady = { rate: s.steadyRate, seconds: s.steadySeconds, ...daemonSummary(r) };
    summary.steady_lag_p50_ms = r.lag.p50;
    summary.steady_lag_p99_ms = r.lag.p99;
    summary.steady_peak_rss_mb = Number(r.peakRssMb.toFixed(1));
    log(`  lag p50 ${r.lag.p50} ms p99 ${r.lag.p99} ms max ${r.lag.max} ms, peak RSS ${fmt(r.peakRssMb, 1)} MB`);
  }

  let outage: OutageResult | undefined;
  // Built once, when a phase first needs it (about 13 s at 216 000 events), and shared by both phases.
  let outageWorkloadBuilt: Workload | undefined;
  const outageWorkload = (): Workload => {
    if (!outageWorkloadBuilt) log(`outage: generating ${fmt(s.outageEvents)} events over ${fmt(s.listings)} listings...`);
    return (outageWorkloadBuilt ??= buildWorkload({ events: s.outageEvents, listings: s.listings, frameSize: s.frameSize, seed: 23, expectRows: true }));
  };
  const outageOptions = (): OutageOptions => ({
    serverUrl: s.serverUrl,
    dbName: s.dbName,
    embedded: false,
    mode: s.daemon,
    entry: s.daemonEntry,
    env: daemonEnv,
    workload: outageWorkload(),
    window: s.window,
    pollMs: 50,
    drainTimeoutMs: 300_000,
    log,
  });
  if (s.phases.has('outage-restart')) results.outage_restart = await runRestartReplay(outageOptions());
  if (s.phases.has('outage')) {
    outage = await runOutage(outageOptions());
    results.outage = outage;
    summary.outage_events = outage.events;
    summary.outage_restore_to_first_write_s = outage.restore_to_first_write_s;
    summary.outage_restore_to_last_commit_s = outage.restore_to_last_commit_s;
    summary.outage_drain_events_per_s = outage.drain_events_per_s;
    summary.outage_firehose_events_per_s = outage.firehose.events_per_s;
    summary.outage_drain_over_firehose = outage.drain_over_firehose;
    summary.outage_peak_rss_mb = outage.peak_rss_mb;
    summary.outage_peak_spool_bytes = outage.peak_spool_bytes;
    summary.outage_wrong_rows = outage.check.wrongRows;
    if (summary.daemon_cpu_us_per_event === undefined) {
      // No firehose phase: the outage phase's firehose gives the CPU per event.
      summary.daemon_cpu_us_per_event = outage.firehose.daemon_cpu_us_per_event;
      summary.postgres_cpu_us_per_event = outage.firehose.database_cpu_us_per_event;
    }
  }

  if (s.keepDb) log(`kept the database ${s.dbName}`);
  else await dropDatabase(s.serverUrl, s.dbName);

  if (summary.daemon_cpu_us_per_event !== undefined && summary.postgres_cpu_us_per_event !== undefined) {
    summary.cpu_bound_events_per_s = Math.round(cpuBound(machine.cpus, summary.daemon_cpu_us_per_event, summary.postgres_cpu_us_per_event));
    const e2e = summary.events_per_s ?? summary.outage_firehose_events_per_s;
    if (e2e !== undefined) summary.end_to_end_over_cpu_bound = Number((e2e / summary.cpu_bound_events_per_s).toFixed(3));
  }
  if (summary.outage_drain_events_per_s !== undefined && summary.events_per_s !== undefined) {
    summary.outage_drain_over_best_firehose = Number((summary.outage_drain_events_per_s / summary.events_per_s).toFixed(2));
  }
  if (summary.events_per_s !== undefined && summary.limit_rows_per_s !== undefined) {
    summary.ratio_to_limit = Number((summary.events_per_s / summary.limit_rows_per_s).toFixed(3));
  }
  const targets = {
    ratio_to_limit_ge_0_8: summary.ratio_to_limit === undefined ? null : summary.ratio_to_limit >= 0.8,
    end_to_end_ge_5x_naive:
      summary.events_per_s === undefined || summary.naive_events_per_s === undefined ? null : summary.events_per_s >= 5 * summary.naive_events_per_s,
    steady_lag_p99_le_wait_plus_100:
      summary.steady_lag_p99_ms === undefined ? null : summary.steady_lag_p99_ms <= s.batchWaitMs + 100,
    peak_rss_le_200_mb: summary.peak_rss_mb === undefined ? null : summary.peak_rss_mb <= 200,
    // Issue 23's targets for the outage phase.
    outage_restore_to_last_commit_le_20_s: summary.outage_restore_to_last_commit_s === undefined ? null : summary.outage_restore_to_last_commit_s <= 20,
    outage_drain_over_firehose_ge_0_9: summary.outage_drain_over_firehose === undefined ? null : summary.outage_drain_over_firehose >= 0.9,
    outage_first_write_le_0_5_s: summary.outage_restore_to_first_write_s === undefined ? null : summary.outage_restore_to_first_write_s <= 0.5,
    outage_peak_rss_le_200_mb: summary.outage_peak_rss_mb === undefined ? null : summary.outage_peak_rss_mb <= 200,
    outage_wrong_rows_0: summary.outage_wrong_rows === undefined ? null : summary.outage_wrong_rows === 0,
  };

  const out = {
    ...summary,
    targets,
    machine,
    postgres: pg,
    settings: {
      quick: s.quick,
      events: s.events,
      listings: s.listings,
      listings_touched: workload.listingsTouched,
      bytes_per_event: Math.round(workload.bytes / workload.events),
      mix: { updates: workload.updates, deletes: workload.deletes, partial_deletes: workload.partialDeletes },
      frame_size: s.frameSize,
      batch_max_events: s.batch,
      batch_max_wait_ms: s.batchWaitMs,
      firehose_window_events: s.window,
      rounds: s.rounds,
      naive_events: s.naiveEvents,
      steady_rate: s.steadyRate,
      steady_seconds: s.steadySeconds,
      outage_events: s.phases.has('outage') ? s.outageEvents : undefined,
      phases: [...s.phases],
      daemon: s.daemonEntry
        ? `node ${s.daemonEntry}`
        : s.daemon === 'compiled'
          ? 'compiled (tsc -p tsconfig.build.json), node dist/src/main.js'
          : 'node --import tsx src/main.ts',
      daemon_env: daemonEnv,
      table_variant: s.table,
      node: process.version,
      lag_method:
        'commit time observed at the database: PK lookups of each frame\'s last event every 20 ms (firehose) / 10 ms (steady); ' +
        'lag = first poll that sees the event id - send time; an upper bound, late by at most one poll interval',
    },
    details: results,
    started_at: startedAt.toISOString(),
    duration_s: Math.round((Date.now() - t0) / 1000),
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(s.out, `${JSON.stringify(out, null, 2)}\n`);

  const rows: string[][] = [['measure', 'value', 'target', 'ok']];
  const ok = (v: boolean | null) => (v === null ? '' : v ? 'yes' : 'NO');
  const best = (n: number) => (s.rounds > 1 && n > 1 ? `, best of ${n}` : '');
  rows.push([`end to end (firehose${best(firehoseRuns.length)})`, `${fmt(summary.events_per_s)} events/s`, '', '']);
  rows.push([`limit (${limitBest ? `${limitBest.shape} x${limitBest.concurrency}${best(limitRounds.length)}` : '-'})`, `${fmt(summary.limit_rows_per_s)} rows/s`, '', '']);
  rows.push(['ratio to limit', fmt(summary.ratio_to_limit, 2), '>= 0.80', ok(targets.ratio_to_limit_ge_0_8)]);
  rows.push([
    `CPU bound: ${machine.cpus} cores / (daemon ${fmt(summary.daemon_cpu_us_per_event)} + postgres ${fmt(summary.postgres_cpu_us_per_event)} us/event)`,
    `${fmt(summary.cpu_bound_events_per_s)} events/s`,
    '',
    '',
  ]);
  rows.push([`end to end / CPU bound${summary.events_per_s === undefined ? ' (outage phase firehose)' : ''}`, fmt(summary.end_to_end_over_cpu_bound, 2), '', '']);
  rows.push(['pipeline: parse + rows + batch document, CPU / collector pauses (child process)', `${fmt(summary.pipeline_cpu_us_per_event, 1)} / ${fmt(summary.pipeline_gc_us_per_event, 1)} us/event`, '', '']);
  rows.push(['naive (1 upsert/event)', `${fmt(summary.naive_events_per_s)} events/s`, '', '']);
  rows.push(['end to end / naive', summary.naive_events_per_s && summary.events_per_s ? `${fmt(summary.events_per_s / summary.naive_events_per_s, 1)} x` : '-', '>= 5 x', ok(targets.end_to_end_ge_5x_naive)]);
  rows.push(['firehose lag p50 / p99', `${fmt(summary.lag_p50_ms)} / ${fmt(summary.lag_p99_ms)} ms`, '', '']);
  rows.push(['firehose peak RSS', `${fmt(summary.peak_rss_mb, 1)} MB`, '<= 200 MB', ok(targets.peak_rss_le_200_mb)]);
  rows.push(['firehose RSS before the first frame', `${fmt(summary.idle_rss_mb, 1)} MB`, '', '']);
  rows.push([`steady ${fmt(s.steadyRate)}/s lag p50 / p99`, `${fmt(summary.steady_lag_p50_ms)} / ${fmt(summary.steady_lag_p99_ms)} ms`, `p99 <= ${s.batchWaitMs + 100} ms`, ok(targets.steady_lag_p99_le_wait_plus_100)]);
  rows.push(['steady peak RSS', `${fmt(summary.steady_peak_rss_mb, 1)} MB`, '', '']);
  if (outage) rows.push(...outageRows(outage, targets));
  if (summary.outage_drain_over_best_firehose !== undefined) {
    rows.push(['outage drain / end to end (firehose phase, best)', fmt(summary.outage_drain_over_best_firehose, 2), '', '']);
  }
  // Only what this run measured: a phase left out shows no row (its figures are '-').
  process.stdout.write(`\n${table(rows.filter((r, i) => i === 0 || !/^-( |$)/.test(r[1] ?? '')))}\n`);
  if (comparison.length > 1) {
    process.stdout.write(
      `\nlimit, by statement shape (one run each):\n${table([
        ['shape', 'in flight', 'rows/s', 'WAL MB', 'HOT %', 'client us/row', 'postgres us/row'],
        ...comparison.map((r) => [
          r.shape,
          String(r.concurrency),
          fmt(r.eventsPerS),
          fmt(r.walMb),
          fmt((r.stats.hotShare ?? 0) * 100),
          fmt(r.clientCpuUsPerEvent),
          fmt(r.postgresCpuUsPerEvent),
        ]),
      ])}\n`,
    );
  }
  if (s.rounds > 1 && (firehoseRuns.length > 0 || limitRounds.length > 0)) {
    process.stdout.write(
      `\nrounds: end to end ${firehoseRuns.map((r) => fmt(r.eventsPerS)).join(', ')} events/s; limit ${limitRounds.map((r) => fmt(r.eventsPerS)).join(', ')} rows/s\n`,
    );
  }
  if (naiveRuns.length > 1) {
    process.stdout.write(`\nnaive:\n${table([['in flight', 'events/s'], ...naiveRuns.map((r) => [String(r.concurrency), fmt(r.eventsPerS)])])}\n`);
  }
  if (profile) {
    process.stdout.write(`\ndaemon CPU profile (self time, ${fmt(profile.busyMs)} ms busy):\n`);
    process.stdout.write(`${table([['area', 'ms', '%'], ...profile.areas.slice(0, 10).map((a) => [a.name, fmt(a.ms), fmt(a.share * 100, 1)])])}\n\n`);
    process.stdout.write(`${table([['function', 'ms', '%'], ...profile.topFunctions.map((a) => [a.name, fmt(a.ms), fmt(a.share * 100, 1)])])}\n`);
  }
  if (s.phases.has('firehose') || s.phases.has('steady')) process.stdout.write(`\nlag: ${out.settings.lag_method}\n`);
  process.stdout.write(`\nwritten ${s.out} (${out.duration_s} s)\n`);
}

/** `--embedded`: see embedded.ts. */
async function embedded(s: Settings, run: { machine: Record<string, unknown>; startedAt: Date; t0: number }): Promise<void> {
  let pg: ServerInfo | undefined;
  if (s.targets.some((t) => !t.embedded)) {
    const b = openDb(await recreateDatabase(s.serverUrl, s.dbName), 1);
    pg = await serverInfo(b);
    await b.close();
    log(`postgres: ${pg.version.split(' ').slice(0, 2).join(' ')}`);
  }
  const o = {
    serverUrl: s.serverUrl,
    dbName: s.dbName,
    mode: s.daemon,
    env: { BATCH_MAX_EVENTS: String(s.batch), BATCH_MAX_WAIT_MS: String(s.batchWaitMs), ...s.env },
    targets: s.targets,
    rounds: s.rounds,
    phases: s.phases,
    steadyRate: s.steadyRate,
    steadySeconds: s.steadySeconds,
    steadyListings: s.steadyListings,
    rows: s.rows,
    mixedEvents: s.mixedEvents,
    frameSize: s.frameSize,
    inflight: s.inflight,
    pollMs: 100,
    cpuProfileDir: s.profile ? join(ROOT, 'bench', 'results', 'profiles') : undefined,
    log,
  };
  if (s.daemon === 'compiled' && s.targets.some((t) => !t.entry)) {
    const ms = buildDaemon(log);
    log(ms ? `compiled the daemon in ${(ms / 1000).toFixed(1)} s` : 'daemon build is up to date');
  }
  const r = await runEmbeddedBench(o);
  // Outage: each target in turn (the embedded database is frozen, the external one cut through a proxy; see outage.ts).
  const outages: OutageResult[] = [];
  if (s.phases.has('outage')) {
    log(`outage: generating ${fmt(s.outageEvents)} events over ${fmt(s.listings)} listings...`);
    const workload = buildWorkload({ events: s.outageEvents, listings: s.listings, frameSize: s.frameSize, seed: 23, expectRows: true });
    try {
      for (const t of s.targets) {
        outages.push(
          await runOutage({
            serverUrl: s.serverUrl,
            dbName: s.dbName,
            embedded: t.embedded,
            mode: s.daemon,
            entry: t.entry,
            env: { ...o.env, ...t.env },
            workload,
            // PGlite takes one statement at a time behind a process hop: the growth phase's deeper window.
            window: t.embedded ? s.inflight : s.window,
            pollMs: 50,
            drainTimeoutMs: 600_000,
            log,
          }),
        );
      }
    } finally {
      if (s.targets.some((t) => !t.embedded)) await dropDatabase(s.serverUrl, s.dbName).catch(() => undefined);
    }
  }
  const out = {
    machine: run.machine,
    postgres: pg,
    settings: {
      targets: s.targets,
      rounds: s.rounds,
      steady: { rate: s.steadyRate, seconds: s.steadySeconds, listings: s.steadyListings, frame_ms: 100 },
      growth: { rows: s.rows, mixed_events: s.mixedEvents, inflight: s.inflight, frame_size: s.frameSize, poll_ms: o.pollMs },
      daemon_env: o.env,
      node: process.version,
    },
    ...r,
    outage: outages,
    started_at: run.startedAt.toISOString(),
    duration_s: Math.round((Date.now() - run.t0) / 1000),
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(s.out, `${JSON.stringify(out, null, 2)}\n`);
  if (r.steady.length > 0 || r.growth.length > 0) process.stdout.write(`\n${table(embeddedTable(o, r))}\n`);
  if (outages.length > 0) {
    const rows: string[][] = [['measure', 'value', 'target', 'ok']];
    for (const x of outages) {
      rows.push(...outageRows(x, {
        outage_first_write_le_0_5_s: x.restore_to_first_write_s <= 0.5,
        outage_restore_to_last_commit_le_20_s: x.restore_to_last_commit_s <= 20,
        outage_drain_over_firehose_ge_0_9: x.drain_over_firehose >= 0.9,
        outage_peak_rss_le_200_mb: x.peak_rss_mb <= 200,
        outage_wrong_rows_0: x.check.wrongRows === 0,
      }));
      rows.push([`  how the database was cut`, x.target === 'embedded' ? 'SIGSTOP / SIGCONT' : 'TCP proxy', '', '']);
    }
    process.stdout.write(`\n${table(rows)}\n`);
  }
  process.stdout.write(`\nwritten ${s.out} (${out.duration_s} s)\n`);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
