/**
 * `npm run bench:faults`: what each database fault costs, measured, for the closing note of the
 * fault work ("events sent, lost, wrongly rejected, and seconds to recover, before and after").
 *
 * Each fault runs against the real Postgres (DATABASE_URL's server, default
 * postgres://postgres@127.0.0.1:5432; loopback only) in a database of its own, owned by an ordinary
 * role of its own (grants and read-only apply to it), with the real daemon pipeline: in process
 * (startTestApp) for faults 1–7, a spawned daemon for the SIGKILL. A FakeBptfServer streams `--rate`
 * events/s of new and updated listings (ListingStream) from before the fault until recovery.
 *
 * Per fault, one row:
 * - sent: events delivered to the daemon's socket;
 * - lost: listings whose final row is missing or holds an event older than the last one sent for it
 *   (event_id per listing against the expected final state, not counts), once the stream has stopped
 *   and up to 10 s more have passed for it to settle;
 * - wrongly rejected: rows of ingest_rejects for bptf (every event sent is valid);
 * - /readyz during the fault: the status codes seen (sampled every 100 ms) and whether a body named
 *   the fault's SQLSTATE;
 * - recovery: seconds from the fix to the first moment every event sent so far (before that poll
 *   began) is in the table with the right event_id, polled every 100 ms, "never" after 60 s;
 * - spool left: bytes of DATA_DIR/spool segment files at the end.
 *
 * It measures and never asserts: a bad figure is a figure, and a fault that cannot even be set up
 * prints its error in the notes, so the same script runs against older code. The helpers it uses are
 * the suite's vitest-free ones (a script outside vitest cannot call `inject`/`onTestFinished`).
 *
 *   npx tsx bench/faults.ts [--only read-only,cancels,...] [--hold-s 20] [--rate 300]
 */
import { readdirSync, statSync, mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { FakeBptfServer } from '../src/simulator/bptf-server.js';
import type { BptfEvent } from '../src/simulator/bptf-events.js';
import { startTestApp, TEST_ENV, type TestApp } from '../test/helpers/app.js';
import { expectedListings, isNewer } from '../test/helpers/expected-listings.js';
import { bptfRejects, readyz, startCancelLoop, type CancelLoop } from '../test/helpers/faults.js';
import { ListingStream } from '../test/helpers/listing-stream.js';
import { createOwnedDatabaseOn, type OwnedDatabase } from '../test/helpers/owned-database-core.js';
import {
  COLUMN_RENAMED,
  READ_ONLY,
  READ_ONLY_ENV,
  REVOKED_ALL,
  REVOKED_LISTINGS,
  TABLE_RENAMED,
  type RefusalFault,
} from '../test/helpers/refusal-faults.js';
import { TcpProxy } from '../test/helpers/tcp-proxy.js';
import { waitFor } from '../test/helpers/wait-for.js';
import { freePort, ROOT, startDaemon, type Daemon } from './daemon.js';

const RECOVERY_GIVE_UP_MS = 60_000;
const POLL_MS = 100;
const SETTLE_MS = 10_000;

interface Options {
  readonly only: readonly string[] | undefined;
  readonly holdMs: number;
  readonly rate: number;
  readonly serverUrl: string;
}

function parseArgs(argv: readonly string[]): Options {
  let only: string[] | undefined;
  let holdS = 20;
  let rate = 300;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? '';
    if (a === '--only') only = next().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--hold-s') holdS = Number(next());
    else if (a === '--rate') rate = Number(next());
    else if (a === '--help' || a === '-h') {
      console.log(`usage: npx tsx bench/faults.ts [--only ${FAULTS.map((f) => f.name).join(',')}] [--hold-s 20] [--rate 300]`);
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!(holdS > 0) || !(rate >= 10)) {
    console.error('--hold-s must be > 0 and --rate >= 10');
    process.exit(2);
  }
  return { only, holdMs: holdS * 1000, rate, serverUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432' };
}

/** One row of the table, and what did not fit in it. */
interface Row {
  fault: string;
  sqlstate: string;
  sent: number | undefined;
  lost: number | undefined;
  rejected: number | undefined;
  readyz: string;
  recoveryS: string;
  spoolBytes: number | undefined;
  notes: string[];
}

interface Fault {
  readonly name: string;
  readonly label: string;
  /** The SQLSTATE the daemon's writes get, or what happens instead. */
  readonly sqlstate: string;
  readonly run: (o: Options, server: FakeBptfServer, row: Row) => Promise<void>;
}

const FAULTS: readonly Fault[] = [
  refusal('read-only', 'read-only database', READ_ONLY, READ_ONLY_ENV),
  refusal('revoke-all', 'INSERT/UPDATE revoked, all tables', REVOKED_ALL),
  refusal('revoke-listings', 'INSERT/UPDATE revoked, bptf_listings', REVOKED_LISTINGS),
  refusal('table-renamed', 'bptf_listings renamed', TABLE_RENAMED),
  refusal('column-renamed', 'a column renamed', COLUMN_RENAMED),
  { name: 'cancels', label: 'statement cancels every 25 ms', sqlstate: '57014', run: runCancels },
  { name: 'hang', label: 'database hangs (TCP)', sqlstate: '— (no answer)', run: runHang },
  { name: 'sigkill', label: 'SIGKILL during a cut, restart', sqlstate: '— (cut)', run: runSigkill },
];

// ---------------------------------------------------------------------------------------------
// Measuring

/** Bytes of spool segment files under DATA_DIR/spool (what a restart would replay). */
function spoolBytes(dataDir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(join(dataDir, 'spool'), { recursive: true, encoding: 'utf8' });
  } catch {
    return 0;
  }
  for (const n of names) {
    if (!n.endsWith('.ndjson')) continue;
    try {
      total += statSync(join(dataDir, 'spool', n)).size;
    } catch {
      // Replayed and unlinked between the listing and the stat: nothing left in it.
    }
  }
  return total;
}

/**
 * Listings whose row is missing or holds an older event than the newest sent for it. Only id and
 * event_id are read: this runs every 100 ms, and reading payloads would load the machine it measures.
 */
async function countLost(db: OwnedDatabase, expected: ReadonlyMap<string, BptfEvent>): Promise<number> {
  const rows = await db.query<{ id: string; event_id: string }>('SELECT id, event_id FROM bptf_listings');
  const held = new Map(rows.map((r) => [r.id, r.event_id]));
  let lost = 0;
  for (const [id, e] of expected) {
    const got = held.get(id);
    if (got === undefined || (got !== e.id && !isNewer(got, e.id))) lost++;
  }
  return lost;
}

/**
 * /readyz while a fault holds: the codes seen, and whether any body named the SQLSTATE. One request
 * at a time, each given 2 s (an answer that waits on a hung database is itself a figure: "timeout"),
 * started without awaiting it, so the other samples keep their 100 ms pace.
 */
class ReadyzSampler {
  readonly codes = new Set<string>();
  named = false;
  #inFlight: Promise<void> | undefined;
  constructor(private readonly sqlstate: string | undefined) {}

  sample(port: number): void {
    this.#inFlight ??= this.#once(port).finally(() => (this.#inFlight = undefined));
  }

  async #once(port: number): Promise<void> {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) });
      const text = await res.text();
      this.codes.add(String(res.status));
      // Whatever the body's shape (older versions have other fields): the SQLSTATE anywhere in it.
      if (this.sqlstate && text.includes(this.sqlstate)) this.named = true;
    } catch (e) {
      this.codes.add(e instanceof Error && e.name === 'TimeoutError' ? 'timeout' : 'no answer');
    }
  }

  /** Waits for the request in flight, then sums up. */
  async summary(): Promise<string> {
    await this.#inFlight;
    if (this.codes.size === 0) return 'not sampled';
    const codes = [...this.codes].sort().join('/');
    if (!this.sqlstate) return codes;
    return `${codes}, ${this.named ? 'named' : 'not named'}`;
  }
}

/** Call `tick` every 100 ms while `ms` pass. */
async function during(ms: number, tick: () => void): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const next = Date.now() + POLL_MS;
    tick();
    await sleep(Math.max(0, Math.min(next, until) - Date.now()));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Seconds from `fixedAt` to the first poll at which every event sent before that poll began is in
 * the table with the right event_id; undefined after 60 s. The stream goes on meanwhile. `stopEarly`
 * ends the wait sooner (the SIGKILL case: the last second may be lost by design).
 */
async function timeToRecover(db: OwnedDatabase, stream: ListingStream, fixedAt: number, stopEarly?: () => Promise<boolean>): Promise<number | undefined> {
  while (Date.now() - fixedAt < RECOVERY_GIVE_UP_MS) {
    const next = Date.now() + POLL_MS;
    const cutoff = Date.now();
    try {
      if ((await countLost(db, expectedListings(stream.events(cutoff)))) === 0) return (Date.now() - fixedAt) / 1000;
      if (stopEarly && (await stopEarly())) return undefined;
    } catch {
      // The table is away (renamed back a moment ago) or the server busy: the next poll tells.
    }
    await sleep(Math.max(0, next - Date.now()));
  }
  return undefined;
}

/** After the stream has stopped: up to 10 s for the last events to land, then the listings lost. */
async function settleAndCountLost(db: OwnedDatabase, stream: ListingStream): Promise<number | undefined> {
  const expected = expectedListings(stream.events());
  const until = Date.now() + SETTLE_MS;
  let lost: number | undefined;
  for (;;) {
    lost = await countLost(db, expected).catch(() => lost);
    if (lost === 0 || Date.now() > until) return lost;
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// The in-process scenario (faults 1–7)

interface InProcessFault {
  readonly sqlstate: string | undefined;
  readonly env?: Readonly<Record<string, string>>;
  /** Through a TcpProxy (the hang). */
  readonly proxy?: boolean;
  apply(ctx: Ctx): Promise<void>;
  fix(ctx: Ctx): Promise<void>;
  /** Called on every 100 ms sample while the fault holds, with the ms since it was applied. */
  sample?(ctx: Ctx, sinceFaultMs: number): void;
  /** Notes once the fix is in. */
  notes?(ctx: Ctx): Promise<string[]> | string[];
}

interface Ctx {
  readonly db: OwnedDatabase;
  readonly app: TestApp;
  readonly dataDir: string;
  readonly proxy: TcpProxy | undefined;
}

async function inProcess(o: Options, server: FakeBptfServer, row: Row, fault: InProcessFault): Promise<void> {
  const db = await createOwnedDatabaseOn(o.serverUrl);
  let proxy: TcpProxy | undefined;
  let app: TestApp | undefined;
  let stream: ListingStream | undefined;
  let applied = false;
  let ctx: Ctx | undefined;
  try {
    if (fault.proxy) {
      proxy = TcpProxy.forUrl(db.url);
      await proxy.start();
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-faults-'));
    app = await startTestApp({
      DATABASE_URL: proxy ? proxy.rewrite(db.url) : db.url,
      BPTF_ENABLED: 'true',
      BPTF_URL: server.url,
      DATA_DIR: dataDir,
      // The tests' settings, but info: debug lines at 300 events/s would cost the CPU being measured.
      LOG_LEVEL: 'info',
      ...fault.env,
    });
    const a = app;
    ctx = { db, app: a, dataDir, proxy };
    await waitFor(() => a.statuses.get('bptf')?.state === 'connected', 'connected', 30_000);
    await waitFor(async () => (await readyz(a.httpPort)).status === 200, '/readyz 200 before the fault', 30_000);
    const s = (stream = new ListingStream(server, { eventsPerTick: Math.round(o.rate / 10), tickMs: 100 }));
    s.start();
    await waitFor(async () => (await db.query('SELECT 1 FROM bptf_listings LIMIT 1')).length > 0, 'listings written before the fault', 30_000);

    const sampler = new ReadyzSampler(fault.sqlstate);
    await fault.apply(ctx);
    applied = true;
    const faultAt = Date.now();
    const c = ctx;
    await during(o.holdMs, () => {
      fault.sample?.(c, Date.now() - faultAt);
      sampler.sample(a.httpPort);
    });
    row.readyz = await sampler.summary();

    await fault.fix(ctx);
    applied = false;
    const fixedAt = Date.now();
    const recovered = await timeToRecover(db, s, fixedAt);
    row.recoveryS = recovered === undefined ? 'never' : recovered.toFixed(1);
    s.stop();
    row.sent = s.sent.length;
    row.lost = await settleAndCountLost(db, s);
    row.rejected = await bptfRejects(db).catch(() => undefined);
    row.spoolBytes = spoolBytes(dataDir);
    if (s.undelivered > 0) row.notes.push(`${s.undelivered} frames found no daemon socket (events not sent)`);
    row.notes.push(...(await fault.notes?.(ctx) ?? []));
  } finally {
    stream?.stop();
    if (stream && row.sent === undefined) row.sent = stream.sent.length;
    if (applied && ctx) await fault.fix(ctx).catch((e: unknown) => row.notes.push(`could not remove the fault: ${String(e)}`));
    await app?.stop().catch((e: unknown) => row.notes.push(`stop: ${String(e)}`));
    await proxy?.stop().catch(() => undefined);
    await db.drop().catch((e: unknown) => row.notes.push(`drop: ${String(e)}`));
  }
}

function refusal(name: string, label: string, f: RefusalFault, env?: Readonly<Record<string, string>>): Fault {
  return {
    name,
    label,
    sqlstate: f.sqlstate,
    run: (o, server, row) =>
      inProcess(o, server, row, {
        sqlstate: f.sqlstate,
        env,
        apply: (ctx) => f.apply(ctx.db),
        fix: (ctx) => f.fix(ctx.db),
      }),
  };
}

async function runCancels(o: Options, server: FakeBptfServer, row: Row): Promise<void> {
  let loop: CancelLoop | undefined;
  let cancelled = 0;
  await inProcess(o, server, row, {
    sqlstate: '57014',
    // As the test: batches gathered for up to a second, statements long enough for cancels to hit.
    env: { BATCH_MAX_WAIT_MS: '1000' },
    async apply(ctx) {
      loop = await startCancelLoop(ctx.db, 25);
    },
    async fix() {
      cancelled = (await loop?.stop()) ?? 0;
    },
    notes: () => [`${cancelled} statements of the daemon cancelled`],
  });
}

async function runHang(o: Options, server: FakeBptfServer, row: Row): Promise<void> {
  let spooledAfterMs: number | undefined;
  await inProcess(o, server, row, {
    sqlstate: undefined,
    proxy: true,
    async apply(ctx) {
      ctx.proxy?.hang();
    },
    async fix(ctx) {
      ctx.proxy?.restore();
    },
    sample(ctx, sinceFaultMs) {
      if (spooledAfterMs === undefined && spoolBytes(ctx.dataDir) > 0) spooledAfterMs = sinceFaultMs;
    },
    notes: () => [
      spooledAfterMs === undefined
        ? `held events never reached the spool during the ${o.holdMs / 1000} s hang`
        : `held events reached the spool after ${(spooledAfterMs / 1000).toFixed(1)} s`,
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// SIGKILL during a cut (fault 8): a spawned daemon, then a restart on the same DATA_DIR

async function runSigkill(o: Options, server: FakeBptfServer, row: Row): Promise<void> {
  const db = await createOwnedDatabaseOn(o.serverUrl);
  const proxy = TcpProxy.forUrl(db.url);
  const daemons: Daemon[] = [];
  let stream: ListingStream | undefined;
  try {
    await proxy.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-kill-'));
    const { HTTP_PORT: _port, ...testEnv } = TEST_ENV;
    const spawnOne = async (): Promise<{ d: Daemon; port: number }> => {
      const port = await freePort();
      // From the sources through tsx: a compiled build would go into node_modules/.cache, which
      // worktrees sharing node_modules share too.
      const d = startDaemon({
        mode: 'tsx',
        databaseUrl: proxy.rewrite(db.url),
        bptfUrl: server.url,
        httpPort: port,
        env: { ...testEnv, LOG_LEVEL: 'warn', BPTF_ENABLED: 'true', DATA_DIR: dataDir, INSTANCE_ID: 'test' },
      });
      daemons.push(d);
      return { d, port };
    };

    const connections = server.totalConnections;
    const first = await spawnOne();
    await server.waitForConnections(connections + 1, 60_000);
    await waitFor(async () => (await readyz(first.port)).status === 200, '/readyz 200 before the cut', 60_000);
    const s = (stream = new ListingStream(server, { eventsPerTick: Math.round(o.rate / 10), tickMs: 100 }));
    s.start();
    await waitFor(async () => (await db.query('SELECT 1 FROM bptf_listings LIMIT 1')).length > 0, 'listings written before the cut', 30_000);

    const sampler = new ReadyzSampler(undefined);
    proxy.cut();
    const cutAt = Date.now();
    const killAfterMs = o.holdMs * 0.75;
    await during(killAfterMs, () => sampler.sample(first.port));
    row.readyz = await sampler.summary();
    s.stop();
    const killedAt = Date.now();
    first.d.child.kill('SIGKILL');
    await first.d.exited;
    row.sent = s.sent.length;
    const sentInCut = s.sent.filter((e) => e.at >= cutAt).length;
    const spoolAtKill = spoolBytes(dataDir);
    await sleep(Math.max(0, cutAt + o.holdMs - Date.now()));
    proxy.restore();

    const second = await spawnOne();
    const restartedAt = Date.now();
    // The last second before a kill may be lost by design: once the restart has drained (spool
    // empty, /readyz 200) for 5 s and events are still missing, they are not coming.
    let drainedAt: number | undefined;
    const drained = async (): Promise<boolean> => {
      const ok = spoolBytes(dataDir) === 0 && (await readyz(second.port).catch(() => ({ status: 0 }))).status === 200;
      if (!ok) drainedAt = undefined;
      else drainedAt ??= Date.now();
      return drainedAt !== undefined && Date.now() - drainedAt > 5_000;
    };
    const recovered = await timeToRecover(db, s, restartedAt, drained);
    row.recoveryS = recovered === undefined ? 'never' : recovered.toFixed(1);
    row.lost = await settleAndCountLost(db, s);
    // The contract lets a crash lose about the last second: what is lost beyond it (2 s, as the test
    // allows for the spill check, the fsync and a busy machine) is the figure that matters.
    const lostOlder = await countLost(db, expectedListings(s.events(killedAt - 2_000))).catch(() => undefined);
    row.rejected = await bptfRejects(db).catch(() => undefined);
    row.spoolBytes = spoolBytes(dataDir);
    row.notes.push(
      `of the lost, ${cell(lostOlder)} listings lack an event sent more than 2 s before the kill`,
      `killed ${((killedAt - cutAt) / 1000).toFixed(1)} s into the cut (${sentInCut} of the ${row.sent} events were sent during the cut; ${spoolAtKill} spool bytes at the kill)`,
      drainedAt === undefined
        ? 'the restart had not drained (spool empty and /readyz 200) when the wait ended'
        : `the restart drained (spool empty, /readyz 200) ${((drainedAt - restartedAt) / 1000).toFixed(1)} s after the restore`,
      'recovery: from the restore and restart',
    );
    if (s.undelivered > 0) row.notes.push(`${s.undelivered} frames found no daemon socket (events not sent)`);
  } finally {
    stream?.stop();
    for (const d of daemons) await d.stop().catch(() => undefined);
    await proxy.stop().catch(() => undefined);
    await db.drop().catch((e: unknown) => row.notes.push(`drop: ${String(e)}`));
  }
}

// ---------------------------------------------------------------------------------------------

function cell(v: number | string | undefined): string {
  return v === undefined ? '?' : String(v);
}

function printTable(rows: readonly Row[]): void {
  const header = ['fault', 'SQLSTATE', 'sent', 'lost', 'wrongly rejected', '/readyz during the fault', 'recovery (s)', 'spool bytes left'];
  const body = rows.map((r) => [r.fault, r.sqlstate, cell(r.sent), cell(r.lost), cell(r.rejected), r.readyz, r.recoveryS, cell(r.spoolBytes)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const b of body) console.log(line(b));
  console.log('');
  for (const r of rows) for (const n of r.notes) console.log(`- ${r.fault}: ${n}`);
}

function commit(): string {
  try {
    return execFileSync('git', ['log', '-1', '--format=%h %s'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const chosen = o.only ? FAULTS.filter((f) => o.only?.includes(f.name)) : FAULTS;
  if (o.only && chosen.length !== o.only.length) {
    console.error(`unknown fault in --only; the faults: ${FAULTS.map((f) => f.name).join(', ')}`);
    process.exit(2);
  }
  const load = loadavg().map((x) => x.toFixed(2)).join(', ');
  console.log(`bench:faults at ${commit()}`);
  console.log(`load average at the start: ${load} (${cpus().length} cores); hold ${o.holdMs / 1000} s, ${o.rate} events/s`);
  console.log('(password rotation is not measured here: it needs a private cluster; test/integration/password-file.test.ts covers it)');
  // An old version may fail in ways that escape its own handlers: note it and go on measuring.
  process.on('unhandledRejection', (e) => console.error(`unhandled rejection: ${String(e)}`));

  const server = new FakeBptfServer();
  await server.start();
  const rows: Row[] = [];
  try {
    for (const f of chosen) {
      const row: Row = { fault: f.label, sqlstate: f.sqlstate, sent: undefined, lost: undefined, rejected: undefined, readyz: '?', recoveryS: '?', spoolBytes: undefined, notes: [] };
      const started = Date.now();
      console.error(`… ${f.name}`);
      try {
        await f.run(o, server, row);
      } catch (e) {
        row.notes.push(`stopped early: ${e instanceof Error ? e.message : String(e)}`);
      }
      console.error(`  ${f.name}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
      rows.push(row);
    }
  } finally {
    await server.stop();
  }
  console.log('');
  printTable(rows);
}

await main();
// Anything an old version left running (a timer, a socket) must not keep the bench alive.
process.exit(0);
