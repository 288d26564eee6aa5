import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { CoreDatabase } from '../../src/core/db/schema.js';
import { withKey, type StoredReject } from '../../src/core/ingest/reject.js';
import { insertRejects } from '../../src/core/ingest/rejects-store.js';
import { replayRejects } from '../../src/core/ingest/replay.js';
import { FEEDS } from '../../src/feeds/index.js';
import { makeListingDelete, makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/database.js';

let tdb: TestDatabase;
let core: Kysely<CoreDatabase>;
beforeAll(async () => {
  tdb = await createTestDatabase();
  await tdb.migrate();
  core = tdb.db as unknown as Kysely<CoreDatabase>;
});
afterAll(async () => tdb?.close());

const rejectsOf = (source: string) =>
  tdb.db.selectFrom('ingest_rejects').select(['id', 'reason', 'raw', 'event_id', 'reject_key', 'replayed_at']).where('source', '=', source).orderBy('id').execute();

describe('ingest_rejects: each reject stored once', () => {
  it('a reject written again (the spool copy of a batch that committed) is one row; a twin in one batch too', async () => {
    const a = withKey({ source: 'once', reason: 'bad', raw: '{"x":1}', receivedAt: Date.UTC(2026, 0, 1), eventId: 'e1' });
    const b = withKey({ source: 'once', reason: 'bad', raw: '{"x":1}', receivedAt: Date.UTC(2026, 0, 1) });
    // What the spool keeps and reads back: the default encoder's JSON.
    const spooled = JSON.parse(JSON.stringify(a)) as StoredReject;
    await insertRejects(core, [a]);
    await insertRejects(core, [spooled, b, b]);
    const rows = await rejectsOf('once');
    expect(rows.map((r) => [r.reject_key, r.event_id])).toEqual([
      [a.key, 'e1'],
      [b.key, null],
    ]);
  });

  it('spool lines from before keys existed are stored as before', async () => {
    const old = { source: 'old', reason: 'bad', raw: 'x', receivedAt: Date.now() } as StoredReject;
    await insertRejects(core, [old, old]);
    expect((await rejectsOf('old')).map((r) => r.reject_key)).toEqual([null, null]);
  });
});

describe('npm run rejects -- replay', () => {
  const config = loadConfig({});
  const update = (i: number) => JSON.stringify(makeListingUpdate(i, { timeSec: 1_765_700_000 }));
  const nest = '{"n":'.repeat(6_000) + '1' + '}'.repeat(6_000);
  const stored = {
    // Valid events, as a database refusal stores them (the cause since fixed by an operator).
    valid: update(1),
    merged: `[${update(2)},${JSON.stringify(makeListingDelete(2, { timeSec: 1_765_700_100, partial: true }))}]`,
    badId: '{"id":"nope","event":"listing-update","payload":{"id":"440_9"}}',
    poison: update(3).replace('"payload":{', `"payload":{"deep":${nest},`),
  };
  const tradepost = '{"msg_type":"BID_REQUEST","sent_at":1704067200000,"payload":{"conversation_id":"c-9","x":1}}';
  const snapshot = () => tdb.db.selectFrom('ingest_rejects').selectAll().where('source', 'in', ['bptf', 'tradepost', 'gone']).orderBy('id').execute();
  let ids: Record<string, string>;

  beforeAll(async () => {
    const rows = [
      ...Object.entries(stored).map(([name, raw]) => ({ source: 'bptf', reason: `database refused the listing (SQLSTATE 23514): ${name}`, raw })),
      { source: 'tradepost', reason: 'database refused the message (SQLSTATE 42501): permission denied', raw: tradepost },
      { source: 'gone', reason: 'database refused the thing (SQLSTATE 42P01): a feed since removed', raw: '{}' },
    ];
    const inserted = await tdb.db.insertInto('ingest_rejects').values(rows.map((r) => ({ ...r, received_at: '2026-12-01T00:00:00Z' }))).returning(['id', 'raw']).execute();
    ids = Object.fromEntries(Object.entries(stored).map(([name, raw]) => [name, inserted.find((r) => r.raw === raw)?.id as string]));
  });

  it('--dry-run says what it would do and changes nothing', async () => {
    const before = await snapshot();
    const lines: string[] = [];
    const c = await replayRejects(core, FEEDS, config, { dryRun: true, reasonLike: 'database refused' }, (l) => lines.push(l));
    // The poison event parses: only writing it would tell (a dry run writes nothing).
    expect(c).toEqual({ matched: 6, written: 4, refused: 1, skipped: 1 });
    expect(lines.filter((l) => l.includes('would write'))).toHaveLength(4);
    expect(lines.find((l) => l.startsWith(`#${ids.badId} `))).toMatch(/would stay: event id is not a 24-hex ObjectId/);
    expect(await snapshot()).toEqual(before);
    expect(await count(tdb.db, 'bptf_listings')).toBe(0);
  });

  it('writes the rejects that pass now (replayed_at set), keeps those refused again with the new reason, deletes nothing', async () => {
    const lines: string[] = [];
    const c = await replayRejects(core, FEEDS, config, { source: 'bptf', since: new Date('2026-11-30T00:00:00Z') }, (l) => lines.push(l));
    expect(c, lines.join('\n')).toEqual({ matched: 4, written: 2, refused: 2, skipped: 0 });
    const listings = await tdb.db.selectFrom('bptf_listings').select(['id', 'deleted_at']).orderBy('id').execute();
    expect(Object.fromEntries(listings.map((l) => [l.id, l.deleted_at !== null]))).toEqual({
      [String(makeListingUpdate(1, { timeSec: 1_765_700_000 }).payload.id)]: false,
      [String(makeListingUpdate(2, { timeSec: 1_765_700_000 }).payload.id)]: true,
    });
    const after = new Map((await snapshot()).map((r) => [r.id, r]));
    expect(after.size).toBe(6);
    expect(after.get(ids.valid as string)?.replayed_at).toBeInstanceOf(Date);
    expect(after.get(ids.merged as string)?.replayed_at).toBeInstanceOf(Date);
    expect(after.get(ids.badId as string)).toMatchObject({ replayed_at: null, reason: 'event id is not a 24-hex ObjectId', raw: stored.badId });
    expect(after.get(ids.poison as string)).toMatchObject({ replayed_at: null, raw: stored.poison });
    expect(after.get(ids.poison as string)?.reason).toMatch(/^client could not encode the listing: .*call stack/i);

    // Again: only those not replayed match, and they stay; a filter that matches none, none.
    expect(await replayRejects(core, FEEDS, config, { source: 'bptf' })).toEqual({ matched: 2, written: 0, refused: 2, skipped: 0 });
    expect(await replayRejects(core, FEEDS, config, { since: new Date('2027-01-01T00:00:00Z') })).toEqual({ matched: 0, written: 0, refused: 0, skipped: 0 });
    expect(await replayRejects(core, FEEDS, config, { reasonLike: 'since removed', dryRun: true })).toEqual({ matched: 1, written: 0, refused: 0, skipped: 1 });
  });

  it('as a command: npm run rejects -- replay --source tradepost', () => {
    const root = join(import.meta.dirname, '../..');
    const r = spawnSync(process.execPath, ['scripts/run.mjs', 'rejects', 'replay', '--source', 'tradepost'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: tdb.url, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('matched 1, written 1, refused again 0, skipped 0');
    const bad = spawnSync(process.execPath, ['scripts/run.mjs', 'rejects', 'replay', '--since', 'yesterday'], { cwd: root, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--since yesterday is not a date/);
  }, 150_000);

  it('the command wrote the tradepost message', async () => {
    expect(await count(tdb.db, 'tradepost_events')).toBe(1);
  });
});
