import { sql, type Kysely, type Transaction } from 'kysely';
import type { TableChange } from '../../core/db/change-notifier.js';
import type { CommerceEventRow } from './parse.js';
import type { CommerceDatabase } from './tables.js';

/**
 * Write a batch of store events in ONE transaction:
 *   1. insert them into commerce_events, skipping those already stored (same dedupe_key);
 *   2. apply only the newly inserted ones to commerce_entities.
 * Step 2 after step 1 in one transaction makes the whole write idempotent: a retried batch (or
 * another replica's copy) finds its events stored, so it changes no entity twice, and a crash
 * between the steps rolls both back.
 *
 * Entity rule: an event is applied when its occurred_at is >= the stored one (a tie: the later
 * applied wins). Applied means: data = stored data || event data (top-level keys merged, the
 * event's win; changed_fields is not part of the entity), last_event, occurred_at, and deleted_at
 * = occurred_at for a delete, null for a create/update (a revival). An older event changes
 * nothing, so the result depends on the events, not on the order they arrive in batches.
 *
 * Several events of one entity in one batch cannot go in one upsert (a statement cannot touch a
 * row twice), and folding them into one row in memory is wrong when the stored row's time falls
 * between them (the older one must be skipped, the newer applied on top of the stored data). So
 * they go in rounds: round k upserts the k-th event (by occurred_at) of every entity that has one.
 * Rows within a statement are sorted by key, so concurrent batches lock rows in the same order.
 */
export async function writeCommerceEvents(db: Kysely<CommerceDatabase>, rows: readonly CommerceEventRow[]): Promise<{ inserted: number; changes: TableChange[] }> {
  if (rows.length === 0) return { inserted: 0, changes: [] };
  const work = async (trx: Kysely<CommerceDatabase>) => {
    const insertedKeys = await insertEvents(trx, rows);
    const fresh = rows.filter((r) => insertedKeys.has(r.dedupeKey));
    // An entity changed by several rounds is announced once, with its newest applied time.
    const entities = new Map<string, number>();
    for (const round of entityRounds(fresh)) {
      for (const e of await upsertEntities(trx, round)) entities.set(e.id, Math.max(entities.get(e.id) ?? -Infinity, e.t));
    }
    const changes: TableChange[] = [
      { table: 'commerce_events', ids: fresh.map((r) => r.dedupeKey), eventTimesMs: fresh.map((r) => r.occurredAtMs) },
      { table: 'commerce_entities', ids: [...entities.keys()], eventTimesMs: [...entities.values()] },
    ];
    return { inserted: fresh.length, changes };
  };
  // The caller's transaction when there is one (change notifications join it), else our own.
  return db.isTransaction ? work(db as Transaction<CommerceDatabase>) : db.transaction().execute(work);
}

async function insertEvents(db: Kysely<CommerceDatabase>, rows: readonly CommerceEventRow[]): Promise<Set<string>> {
  const result = await db
    .insertInto('commerce_events')
    .columns(['dedupe_key', 'event', 'entity', 'action', 'entity_id', 'occurred_at', 'received_at', 'data', 'changed_fields'])
    .expression(
      sql`SELECT u.dedupe_key, u.event, u.entity, u.action, u.entity_id, to_timestamp(u.occurred_at), to_timestamp(u.received_at),
                 u.data::jsonb, u.changed_fields::jsonb
          FROM unnest(${rows.map((r) => r.dedupeKey)}::text[], ${rows.map((r) => r.event)}::text[], ${rows.map((r) => r.entity)}::text[],
                      ${rows.map((r) => r.action)}::text[], ${rows.map((r) => r.entityId)}::text[],
                      ${rows.map((r) => r.occurredAtMs / 1000)}::float8[], ${rows.map((r) => r.receivedAtMs / 1000)}::float8[],
                      ${rows.map((r) => JSON.stringify(r.data))}::text[],
                      ${rows.map((r) => (r.changedFields === null ? null : JSON.stringify(r.changedFields)))}::text[])
            AS u(dedupe_key, event, entity, action, entity_id, occurred_at, received_at, data, changed_fields)`,
    )
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning('dedupe_key')
    .execute();
  return new Set(result.map((r) => r.dedupe_key));
}

/** Same-time events of one entity: a create comes before an update, an update before a delete. */
const ACTION_ORDER: Record<CommerceEventRow['action'], number> = { created: 0, updated: 1, deleted: 2 };

/**
 * Round k holds the k-th event (by occurred_at, then action, then dedupe key) of each entity.
 * Each round is sorted by (entity, entity_id). Exported for tests.
 */
export function entityRounds(rows: readonly CommerceEventRow[]): CommerceEventRow[][] {
  const byEntity = new Map<string, CommerceEventRow[]>();
  for (const r of rows) {
    const key = entityKey(r);
    const list = byEntity.get(key);
    if (list) list.push(r);
    else byEntity.set(key, [r]);
  }
  const rounds: CommerceEventRow[][] = [];
  const keys = [...byEntity.keys()].sort();
  for (const key of keys) {
    const list = (byEntity.get(key) as CommerceEventRow[]).sort(
      (a, b) =>
        a.occurredAtMs - b.occurredAtMs ||
        ACTION_ORDER[a.action] - ACTION_ORDER[b.action] ||
        (a.dedupeKey < b.dedupeKey ? -1 : a.dedupeKey > b.dedupeKey ? 1 : 0),
    );
    list.forEach((r, k) => (rounds[k] ??= []).push(r));
  }
  return rounds;
}

/** Grouping key, and the lock order of a round's rows: only that every batch uses the same order matters. */
function entityKey(r: CommerceEventRow): string {
  return `${r.entity}\u0000${r.entityId}`;
}

/** The entity's state from one event: its data without changed_fields (an event attribute, not state). */
export function entityData(data: Record<string, unknown>): Record<string, unknown> {
  if (!('changed_fields' in data)) return data;
  const { changed_fields: _changed, ...rest } = data;
  return rest;
}

/** Returns the entities it changed: `entity:entity_id` and the applied event's time (ms). */
async function upsertEntities(db: Kysely<CommerceDatabase>, rows: readonly CommerceEventRow[]): Promise<Array<{ id: string; t: number }>> {
  const changed = await db
    .insertInto('commerce_entities')
    .columns(['entity', 'entity_id', 'data', 'last_event', 'occurred_at', 'deleted_at', 'updated_at'])
    .expression(
      sql`SELECT u.entity, u.entity_id, u.data::jsonb, u.event, to_timestamp(u.occurred_at),
                 CASE WHEN u.action = 'deleted' THEN to_timestamp(u.occurred_at) END, now()
          FROM unnest(${rows.map((r) => r.entity)}::text[], ${rows.map((r) => r.entityId)}::text[],
                      ${rows.map((r) => JSON.stringify(entityData(r.data)))}::text[], ${rows.map((r) => r.event)}::text[],
                      ${rows.map((r) => r.action)}::text[], ${rows.map((r) => r.occurredAtMs / 1000)}::float8[])
            AS u(entity, entity_id, data, event, action, occurred_at)`,
    )
    .onConflict((oc) =>
      oc
        .columns(['entity', 'entity_id'])
        .doUpdateSet({
          data: sql`commerce_entities.data || excluded.data`,
          last_event: sql`excluded.last_event`,
          occurred_at: sql`excluded.occurred_at`,
          deleted_at: sql`excluded.deleted_at`,
          updated_at: sql`now()`,
        })
        .where(sql<boolean>`excluded.occurred_at >= commerce_entities.occurred_at`),
    )
    .returning(['entity', 'entity_id', sql<number>`extract(epoch FROM occurred_at)::float8 * 1000`.as('t')])
    .execute();
  return changed.map((r) => ({ id: `${r.entity}:${r.entity_id}`, t: r.t }));
}
