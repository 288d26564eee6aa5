import { sql, type Kysely } from 'kysely';
import type { Config } from '../../config.js';
import type { TableChange } from '../db/change-notifier.js';
import { classifyWriteError } from '../db/pg-errors.js';
import type { CoreDatabase } from '../db/schema.js';
import type { FeedDefinition, TableSpec } from '../feed.js';
import { makeReject, refusalReason } from './reject.js';

/** `npm run rejects -- replay` filters. */
export interface ReplayOptions {
  /** Only this feed's rejects. */
  readonly source?: string;
  /** Only rejects received at or after this time. */
  readonly since?: Date;
  /** Only rejects whose reason matches (ILIKE; without `%` or `_` it matches anywhere in the reason). */
  readonly reasonLike?: string;
  /** Write nothing: say what would be written and what would stay. */
  readonly dryRun?: boolean;
}

export interface ReplayCounts {
  /** Stored rejects not yet replayed that matched the filters. */
  matched: number;
  /** Written (or, in a dry run, would be written: the parser reads rows from them). */
  written: number;
  /** Refused again, by the parser or the database; their reason now says why. */
  refused: number;
  /** No feed here reads them again (an unknown source, or a feed without `reparse`). */
  skipped: number;
}

/** Rejects read per query: bounded memory however many match (each raw is at most 64 KiB). */
const PAGE = 200;

/**
 * Send stored rejects through the same path again, after an operator fixed the cause: each raw text
 * through its feed's own parser (`reparse`) and the rows through the tables' own idempotent `write`.
 * A reject written now gets `replayed_at`, in the transaction of its rows; one refused again keeps
 * its row, with the new reason. Nothing is deleted. A connection or transient error (the database
 * away) stops the run with that error: what was replayed stays replayed, the rest is left as it was.
 */
export async function replayRejects(
  db: Kysely<CoreDatabase>,
  feeds: readonly FeedDefinition[],
  config: Config,
  opts: ReplayOptions = {},
  print: (line: string) => void = () => undefined,
): Promise<ReplayCounts> {
  const counts: ReplayCounts = { matched: 0, written: 0, refused: 0, skipped: 0 };
  const bySource = new Map(feeds.map((f) => [f.source, f]));
  const pattern = opts.reasonLike === undefined ? undefined : /[%_]/.test(opts.reasonLike) ? opts.reasonLike : `%${opts.reasonLike}%`;
  let after = '0';
  for (;;) {
    let q = db
      .selectFrom('ingest_rejects')
      .select(['id', 'source', 'received_at', 'reason', 'raw'])
      .where('replayed_at', 'is', null)
      .where(sql<boolean>`id > ${after}::bigint`)
      .orderBy('id')
      .limit(PAGE);
    if (opts.source !== undefined) q = q.where('source', '=', opts.source);
    if (opts.since !== undefined) q = q.where('received_at', '>=', opts.since);
    if (pattern !== undefined) q = q.where('reason', 'ilike', pattern);
    const page = await q.execute();
    for (const r of page) {
      counts.matched++;
      const what = `#${r.id} (${r.source}, ${r.received_at.toISOString()})`;
      const reparse = bySource.get(r.source)?.reparse;
      if (!reparse) {
        counts.skipped++;
        print(`${what}: skipped, no feed here reads "${r.source}" rejects again`);
        continue;
      }
      const parsed = reparse(r.raw, { config, receivedAtMs: r.received_at.getTime() });
      const batches = 'rows' in parsed ? parsed.rows.filter((b) => b.rows.length > 0) : [];
      if ('reject' in parsed || batches.length === 0) {
        const reason = 'reject' in parsed ? parsed.reject : 'the parser reads no rows from it';
        counts.refused++;
        print(`${what}: ${opts.dryRun ? 'would stay' : 'stays'}: ${reason}`);
        if (!opts.dryRun) await setReason(db, r.id, reason);
        continue;
      }
      const summary = batches.map((b) => `${b.rows.length} ${b.table.name}`).join(', ');
      if (opts.dryRun) {
        counts.written++;
        print(`${what}: would write ${summary}`);
        continue;
      }
      let failing: TableSpec<unknown> | undefined;
      try {
        const written = await db.transaction().execute(async (trx) => {
          const out: Array<{ table: TableSpec<unknown>; changes: readonly TableChange[] }> = [];
          for (const b of batches) {
            failing = b.table;
            out.push({ table: b.table, changes: (await b.table.write(trx, collapse(b.table, b.rows))) ?? [] });
          }
          failing = undefined;
          await trx.updateTable('ingest_rejects').set({ replayed_at: sql<Date>`now()` }).where('id', '=', r.id).execute();
          return out;
        });
        for (const w of written) w.table.committed?.(w.changes);
        counts.written++;
        print(`${what}: written (${summary})`);
      } catch (err) {
        // The database away or busy: not this reject's fault; stop rather than mark it refused.
        if (classifyWriteError(err).scope === 'transient') throw err;
        const reason = refusalReason(failing?.rowKind ?? 'reject', err);
        counts.refused++;
        print(`${what}: stays: ${reason}`);
        await setReason(db, r.id, reason);
      }
    }
    if (page.length < PAGE) return counts;
    after = (page[page.length - 1] as { id: string }).id;
  }
}

/** The new reason, bounded and storable as every reason is. */
async function setReason(db: Kysely<CoreDatabase>, id: string, reason: string): Promise<void> {
  await db.updateTable('ingest_rejects').set({ reason: makeReject('', reason, '').reason }).where('id', '=', id).execute();
}

/** Rows with one key merged as the writer merges them: one upsert cannot touch a row twice. */
function collapse(table: TableSpec<unknown>, rows: readonly unknown[]): unknown[] {
  const c = table.collapse;
  if (!c) return [...rows];
  const byKey = new Map<string, unknown>();
  for (const row of rows) {
    const key = c.key(row);
    const older = byKey.get(key);
    byKey.set(key, older === undefined ? row : c.merge(older, row));
  }
  return [...byKey.values()];
}
