import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Migrator, NO_MIGRATIONS, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { createDayPartition } from '../../src/feeds/bptf/history-store.js';
import type { BptfTables } from '../../src/feeds/bptf/tables.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

describe('migrations', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists every file of migrations/ in index.ts, in file-name order', () => {
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(Object.keys(migrations)).toEqual(files);
  });

  it('applies when several processes start at once, and each migration is recorded once', async () => {
    await Promise.all([t.migrate(), t.migrate(), t.migrate()]);
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(t.db);
    expect(rows.map((r) => r.name)).toEqual(Object.keys(migrations));
  });

  it('stores payloads with lz4 where the server has it, and keeps the default where it does not', async () => {
    const { rows: setting } = await sql<{ enumvals: string[] | string }>`
      SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'`.execute(t.db);
    const enumvals = setting[0]?.enumvals ?? [];
    const hasLz4 = (Array.isArray(enumvals) ? enumvals : String(enumvals).replace(/[{}]/g, '').split(',')).includes('lz4');
    const { rows } = await sql<{ compression: string }>`
      SELECT attcompression::text AS compression FROM pg_attribute
      WHERE attrelid = 'bptf_listings'::regclass AND attname = 'payload'`.execute(t.db);
    expect(rows[0]?.compression ?? '').toBe(hasLz4 ? 'l' : '');

    // bptf_listing_events (2026_12_08_005): the table, the partitions that existed when it ran, and
    // those made after it.
    const events = async () => {
      const r = await sql<{ name: string; compression: string }>`
        SELECT c.relname AS name, a.attcompression::text AS compression FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE a.attname = 'payload' AND c.relname LIKE 'bptf_listing_events%' AND c.relkind IN ('r', 'p') ORDER BY 1`.execute(t.db);
      return r.rows;
    };
    const day = Date.UTC(2026, 0, 1);
    const bptf = t.db as unknown as Kysely<BptfTables>;
    const migrator = new Migrator({ db: t.db, provider: { getMigrations: async () => migrations } });
    expect((await migrator.migrateTo('2026_12_08_004_listing_event_prices_from_writer')).error).toBeUndefined();
    await createDayPartition(bptf, day);
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    await createDayPartition(bptf, day + 86_400_000);
    // Without lz4 the rollback's pglz stays ('p', where a table never set has '').
    expect((await events()).map((e) => [e.name, e.compression === 'l'])).toEqual([
      ['bptf_listing_events', hasLz4],
      ['bptf_listing_events_p20260101', hasLz4],
      ['bptf_listing_events_p20260102', hasLz4],
    ]);
  });

  it('rolls every migration back and applies them again', async () => {
    const migrator = new Migrator({ db: t.db, provider: { getMigrations: async () => migrations } });
    const down = await migrator.migrateTo(NO_MIGRATIONS);
    expect(down.error).toBeUndefined();
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'kysely_%'`.execute(t.db);
    expect(rows[0]?.n).toBe(0);
    const up = await migrator.migrateToLatest();
    expect(up.error).toBeUndefined();
    expect(up.results?.map((r) => r.status)).toEqual(Object.keys(migrations).map(() => 'Success'));
  });
});
