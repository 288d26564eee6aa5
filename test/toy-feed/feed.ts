import { sql } from 'kysely';
import type { FeedDefinition, TableSpec } from '../../src/core/feed.js';
import { makeReject, safeStringify } from '../../src/core/ingest/reject.js';
import { feedSocket } from '../../src/core/feed-socket.js';

/**
 * A toy feed that lives only in the tests: proof that a feed is a folder plus one definition, run by
 * the real core (writer, spool, rejects, status, replicas, HTTP) without any change to core files.
 *
 * Protocol: after the socket opens the client sends `{"hello":"toy"}`; the server answers
 * `{"welcome":true}` (the session is then ready) and sends `{"id":"…","at":<epoch ms>,"text":"…"}`
 * frames. Anything else is a reject. Rows go to `toy_events (id text primary key, at timestamptz,
 * text text)`, which the test creates (a real feed adds a migration).
 */
export interface ToyRow {
  readonly id: string;
  readonly at: number;
  readonly text: string;
}

export const SOURCE = 'toy';

/** Pure: one frame in, a row, a reject, or the welcome. */
export function parseToyFrame(data: Buffer): { kind: 'welcome' } | { kind: 'row'; row: ToyRow } | { kind: 'reject'; reason: string } {
  let m: unknown;
  try {
    m = JSON.parse(data.toString('utf8'));
  } catch {
    return { kind: 'reject', reason: 'invalid JSON' };
  }
  if (typeof m !== 'object' || m === null) return { kind: 'reject', reason: 'not an object' };
  const o = m as Record<string, unknown>;
  if (o.welcome === true) return { kind: 'welcome' };
  if (typeof o.id !== 'string' || typeof o.at !== 'number' || typeof o.text !== 'string') return { kind: 'reject', reason: 'not a toy event' };
  return { kind: 'row', row: { id: o.id, at: o.at, text: o.text } };
}

export const toyTable: TableSpec<ToyRow> = {
  name: 'toy_events',
  rowKind: 'toy event',
  collapse: { key: (r) => r.id, merge: (older) => older },
  write: async (db, rows) => {
    await sql`
      INSERT INTO toy_events (id, at, text)
      SELECT * FROM unnest(${rows.map((r) => r.id)}::text[], ${rows.map((r) => new Date(r.at).toISOString())}::timestamptz[], ${rows.map((r) => r.text)}::text[])
      ON CONFLICT (id) DO NOTHING`.execute(db);
  },
  sizeOf: (r) => r.text.length,
  eventTimeMs: (r) => r.at,
  describe: (r) => safeStringify(r),
};

export function makeToyFeed(url: string, lockId = 99): FeedDefinition {
  return {
    source: SOURCE,
    lockId,
    tables: [toyTable],
    plan: () => ({
      replicas: 'one',
      connect: (ctx) =>
        feedSocket(ctx, {
          prepare: async () => ({ url }),
          createSession: () => ({
            onOpen: (control) => control.send({ hello: 'toy' }),
            onMessage: (data, _isBinary, control) => {
              const m = parseToyFrame(data);
              if (m.kind === 'welcome') control.ready();
              else if (m.kind === 'row') ctx.add(toyTable, [m.row]);
              else ctx.reject([makeReject(SOURCE, m.reason, data)]);
            },
          }),
        }),
      routes: (ctx) => [
        {
          method: 'GET',
          path: '/toy/ping',
          handler: (_req, res) => {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end(`pong from ${ctx.source}`);
          },
        },
      ],
    }),
  };
}
