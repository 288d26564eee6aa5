/**
 * Keeps README.md, docs/tables.md and the simulator in sync: every example query in their ```sql
 * blocks must return rows on what `npm run simulate` produces, read by the real daemon pipeline.
 *
 * The simulator runs in-process with the CLI's defaults (`parseConfig([])`, the rates a user
 * gets), on loopback; the daemon is the product's app with the env lines the simulator prints.
 * No fixed sleeps: the queries are polled until all of them return rows, or the deadline passes.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, startSimulation, type Simulation } from '../../src/simulator/simulation.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
/** The documents whose example queries must answer, and the tables each must show a query on. */
const DOCUMENTS = {
  'README.md': [
    'bptf_listings', 'bptf_listing_events', 'bptf_quotes', 'bptf_quote_history', 'tradepost_events',
    'commerce_events', 'commerce_entities', 'ingest_status', 'ingest_rejects',
  ],
  'docs/tables.md': [
    'bptf_listings', 'bptf_listing_events', 'bptf_quotes', 'bptf_quote_history', 'tradepost_events',
    'tradepost_conversations', 'commerce_events', 'commerce_entities', 'ingest_status', 'ingest_rejects', 'ingest_gaps',
  ],
} as const;
/** Bound on the wait for every query to return rows (ms); at the default rates it takes about 1 s. */
const ROWS_DEADLINE_MS = 20_000;
/** Pause between polling rounds (ms). */
const POLL_MS = 100;

/** The body of every fenced ```sql block, in order. */
export function sqlBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  let current: string[] | undefined;
  for (const line of markdown.split('\n')) {
    if (current === undefined) {
      if (/^```sql\s*$/.test(line)) current = [];
    } else if (/^```\s*$/.test(line)) {
      blocks.push(current.join('\n'));
      current = undefined;
    } else {
      current.push(line);
    }
  }
  return blocks;
}

/**
 * Splits SQL text into statements at semicolons outside quotes and `--` comments; each keeps
 * its leading comment (the README's description of the query, used in failure messages).
 */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let quote: string | undefined;
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (comment) {
      if (ch === '\n') comment = false;
    } else if (quote !== undefined) {
      // A doubled quote inside a literal ('it''s') closes and reopens it, which this handles as is.
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (ch === '-' && text[i + 1] === '-') {
      comment = true;
    } else if (ch === ';') {
      statements.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  statements.push(text.slice(start).trim());
  return statements.filter((s) => withoutComments(s) !== '');
}

function withoutComments(statement: string): string {
  return statement.replace(/--[^\n]*/g, '').trim();
}

/** The env lines the simulator prints -> an object. */
function parseEnvLines(text: string): Record<string, string> {
  return Object.fromEntries(
    text.split('\n').filter((l) => l !== '').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

// Only queries can be checked for rows; anything else a document's block might hold (LISTEN, SET,
// an UPDATE shown as an example) returns none by nature, or would change the data under test.
const isQuery = (s: string) => /^(SELECT|WITH)\b/i.test(withoutComments(s));
const queriesOf = (file: string) => sqlBlocks(read(file)).flatMap(splitStatements).filter(isQuery);
/** Every query, labelled with its document for failure messages. */
const queries = Object.keys(DOCUMENTS).flatMap((file) => queriesOf(file).map((q) => `-- ${file}\n${q}`));

describe('README and docs/tables.md example queries on simulator data', () => {
  let tdb: TestDatabase;
  let sim: Simulation;
  let app: TestApp;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    // Migrated before the daemon starts so its first ingest_status refresh (at start) is stored,
    // rather than the next one 5 s later.
    await tdb.migrate();
    const config = parseConfig([]);
    if (!config) throw new Error('parseConfig([]) asked for --help');
    sim = await startSimulation(config, () => undefined);
    const env = parseEnvLines(sim.env);
    // BPTF_HISTORY: the bptf_listing_events queries need it (the README's simulator command sets it).
    app = await startTestApp({ ...env, DATABASE_URL: tdb.url, BPTF_ENABLED: 'true', BPTF_HISTORY: 'true' });
  });

  afterAll(async () => {
    await app?.stop();
    await sim?.stop();
    await tdb?.close();
  });

  it('finds the example queries of every table section', () => {
    // Guards the extraction itself: a parser that found nothing would make the next test pass vacuously.
    for (const [file, tables] of Object.entries(DOCUMENTS)) {
      const found = queriesOf(file);
      for (const table of tables) expect(found.some((q) => q.includes(table)), `a ${file} query on ${table}`).toBe(true);
    }
  });

  it('every query returns at least one row', async () => {
    expect(sim.env).toMatch(/^BPTF_URL=ws:\/\/127\.0\.0\.1:/);
    const deadline = Date.now() + ROWS_DEADLINE_MS;
    let empty: string[];
    for (;;) {
      empty = [];
      for (const query of queries) {
        const result = await tdb.pool.query(query);
        if (result.rows.length === 0) empty.push(query);
      }
      if (empty.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    expect(empty, 'README.md or docs/tables.md queries that returned no rows on simulator data').toEqual([]);
  });
});
