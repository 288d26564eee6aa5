import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ListingRowState } from './expected-listings.js';
import type { OwnedDatabase } from './owned-database.js';
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
