import { sql, type Kysely } from 'kysely';
import type { CoreDatabase } from '../db/schema.js';

export interface StatusRow {
  source: string;
  instance: string;
  state: string;
  isLeader: boolean;
  connectedSince: Date | null;
  lastMessageAt: Date | null;
  lastEventAt: Date | null;
  eventsReceived: number;
  eventsWritten: number;
  /** Events written from a spool an earlier run left (not counted in eventsReceived/eventsWritten). */
  eventsReplayed: number;
  reconnects: number;
  lastError: string | null;
  lastErrorAt: Date | null;
}

export async function upsertStatus(db: Kysely<CoreDatabase>, rows: readonly StatusRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('ingest_status')
    .values(
      rows.map((r) => ({
        source: r.source,
        instance: r.instance,
        state: r.state,
        is_leader: r.isLeader,
        connected_since: r.connectedSince,
        last_message_at: r.lastMessageAt,
        last_event_at: r.lastEventAt,
        events_received: r.eventsReceived,
        events_written: r.eventsWritten,
        events_replayed: r.eventsReplayed,
        reconnects: r.reconnects,
        last_error: r.lastError,
        last_error_at: r.lastErrorAt,
        updated_at: sql<Date>`now()`,
      })),
    )
    .onConflict((oc) =>
      oc.columns(['source', 'instance']).doUpdateSet((eb) => ({
        state: eb.ref('excluded.state'),
        is_leader: eb.ref('excluded.is_leader'),
        connected_since: eb.ref('excluded.connected_since'),
        last_message_at: eb.ref('excluded.last_message_at'),
        last_event_at: eb.ref('excluded.last_event_at'),
        events_received: eb.ref('excluded.events_received'),
        events_written: eb.ref('excluded.events_written'),
        events_replayed: eb.ref('excluded.events_replayed'),
        reconnects: eb.ref('excluded.reconnects'),
        last_error: eb.ref('excluded.last_error'),
        last_error_at: eb.ref('excluded.last_error_at'),
        updated_at: sql<Date>`now()`,
      })),
    )
    .execute();
}

/**
 * The writers' canary: a small write every healthy database accepts (it touches this instance's
 * status rows, or none). It fails where the database refuses writes as a whole: read-only (25006),
 * privileges revoked, authentication; so an unclassified error that it survives is the row's.
 */
export async function touchStatusRow(db: Kysely<CoreDatabase>, instance: string): Promise<void> {
  await db.updateTable('ingest_status').set({ updated_at: sql<Date>`now()` }).where('instance', '=', instance).execute();
}

/** Remove the rows of instances that have not written their status for `days` days (stopped, or gone). */
export async function deleteStaleStatus(db: Kysely<CoreDatabase>, days: number): Promise<number> {
  const r = await db
    .deleteFrom('ingest_status')
    .where('updated_at', '<', sql<Date>`now() - make_interval(days => ${days})`)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
