import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { ListingRowState } from './expected-listings.js';
import type { OwnedDatabase } from './owned-database-core.js';
import { waitFor } from './wait-for.js';

/** Files under DATA_DIR/spool that hold spooled events (any writer). */
export function spoolFiles(dataDir: string): string[] {
  try {
    return readdirSync(join(dataDir, 'spool'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ndjson'));
  } catch {
    return [];
  }
}

/** GET /readyz: its status and its JSON body (undefined when the body is not JSON). */
export async function readyz(httpPort: number): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, body: undefined };
  }
}

export async function metricsText(httpPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
}

/** The value of `name{labels…} value` on /metrics for the series whose labels include `label` (e.g. `writer="bptf_listings"`). */
export function metricValue(text: string, name: string, label: string): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /^[^{]+\{([^}]*)\} (\S+)/.exec(line);
    if (m && (m[1] as string).split(',').includes(label)) return Number(m[2]);
  }
  return undefined;
}

/** Every row of bptf_listings (read as the superuser). */
export function readListings(db: OwnedDatabase): Promise<ListingRowState[]> {
  return db.query<ListingRowState>('SELECT id, event_id, payload FROM bptf_listings');
}

/** Rows of ingest_rejects for backpack.tf (read as the superuser). */
export async function bptfRejects(db: OwnedDatabase): Promise<number> {
  const rows = await db.query<{ n: string }>("SELECT count(*) AS n FROM ingest_rejects WHERE source = 'bptf'");
  return Number(rows[0]?.n ?? 0);
}

/** Resolves once `ms` have passed since `since` (a poll on elapsed time, as a fault is held). */
export function holdUntil(since: number, ms: number, what: string): Promise<boolean> {
  return waitFor(() => Date.now() - since >= ms, what, ms + 10_000, 250);
}

/** A loop that cancels the statements of `db`'s owner role; `stop()` ends it and says how many it cancelled. */
export interface CancelLoop {
  stop(): Promise<number>;
}

/**
 * Every `everyMs`, pg_cancel_backend on each active session of the owner role (57014 in the daemon),
 * from one superuser session of its own; a round still running when the next is due is skipped.
 */
export async function startCancelLoop(db: OwnedDatabase, everyMs = 25): Promise<CancelLoop> {
  const admin = new pg.Client({ connectionString: db.serverUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  let cancelled = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    admin
      .query<{ c: boolean }>(
        "SELECT pg_cancel_backend(pid) AS c FROM pg_stat_activity WHERE usename = $1 AND state = 'active' AND pid <> pg_backend_pid()",
        [db.role],
      )
      .then((r) => void (cancelled += r.rows.filter((x) => x.c).length))
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, everyMs);
  let stopped: Promise<number> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await waitFor(() => !busy, 'the last cancel').catch(() => undefined);
        await admin.end().catch(() => undefined);
        return cancelled;
      })();
      return stopped;
    },
  };
}
