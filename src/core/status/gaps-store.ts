import { sql, type Kysely } from 'kysely';
import type { CoreDatabase } from '../db/schema.js';

export interface Gap {
  readonly id: string;
  readonly source: string;
  readonly startedAt: Date;
  readonly endedAt: Date | null;
  readonly reason: string;
  readonly instance: string;
}

function toGap(r: { id: string; source: string; started_at: Date; ended_at: Date | null; reason: string; instance: string }): Gap {
  return { id: r.id, source: r.source, startedAt: r.started_at, endedAt: r.ended_at, reason: r.reason, instance: r.instance };
}

/** Record a gap (open when `endedAt` is null); returns its id. */
export async function insertGap(db: Kysely<CoreDatabase>, g: Omit<Gap, 'id'>): Promise<string> {
  const r = await db
    .insertInto('ingest_gaps')
    .values({ source: g.source, started_at: g.startedAt, ended_at: g.endedAt, reason: g.reason, instance: g.instance })
    .returning('id')
    .executeTakeFirstOrThrow();
  return r.id;
}

export async function closeGap(db: Kysely<CoreDatabase>, id: string, endedAt: Date): Promise<void> {
  await db.updateTable('ingest_gaps').set({ ended_at: endedAt }).where('id', '=', id).where('ended_at', 'is', null).execute();
}

export async function deleteGap(db: Kysely<CoreDatabase>, id: string): Promise<void> {
  await db.deleteFrom('ingest_gaps').where('id', '=', id).where('ended_at', 'is', null).execute();
}

/** The source's open gap (a run or replica that stopped during one leaves it open), newest first. */
export async function openGapOf(db: Kysely<CoreDatabase>, source: string): Promise<Gap | undefined> {
  const r = await db.selectFrom('ingest_gaps').selectAll().where('source', '=', source).where('ended_at', 'is', null).orderBy('started_at', 'desc').limit(1).executeTakeFirst();
  return r && toGap(r);
}

/** Every open gap, for the status page. */
export async function openGaps(db: Kysely<CoreDatabase>): Promise<Gap[]> {
  const rows = await db.selectFrom('ingest_gaps').selectAll().where('ended_at', 'is', null).orderBy('started_at').limit(100).execute();
  return rows.map(toGap);
}

/** The last frame any run or replica of the source received (ingest_status), and whether that holder stopped cleanly. */
export async function lastFrameOf(db: Kysely<CoreDatabase>, source: string): Promise<{ at: Date; instance: string; stopped: boolean } | undefined> {
  const r = await db
    .selectFrom('ingest_status')
    .select(['last_message_at', 'instance', 'state'])
    .where('source', '=', source)
    .where('last_message_at', 'is not', null)
    .orderBy('last_message_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r?.last_message_at ? { at: r.last_message_at, instance: r.instance, stopped: r.state === 'stopped' } : undefined;
}

/** Whether another replica of the source (feeds that run on every replica) was connected and received frames after `since`. */
export async function otherReplicaReceivedSince(db: Kysely<CoreDatabase>, source: string, instance: string, since: Date): Promise<boolean> {
  const r = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM ingest_status
    WHERE source = ${source} AND instance <> ${instance} AND state = 'connected' AND last_message_at > ${since}`.execute(db);
  return (r.rows[0]?.n ?? 0) > 0;
}
