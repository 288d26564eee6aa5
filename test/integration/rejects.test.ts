import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreDatabase } from '../../src/core/db/schema.js';
import { withKey, type StoredReject } from '../../src/core/ingest/reject.js';
import { insertRejects } from '../../src/core/ingest/rejects-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

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
