/**
 * docs/performance.md's table quotes one bench run, committed as bench/results/reference.json
 * (`npm run bench -- --out bench/results/reference.json`). These tests parse every number the table
 * and the sentence above it quote and compare each with the file's, rounded to the digits the page
 * shows: a figure edited by hand, or a new run committed without updating the table, fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

interface Reference {
  events_per_s: number;
  limit_rows_per_s: number;
  ratio_to_limit: number;
  naive_events_per_s: number;
  lag_p50_ms: number;
  lag_p99_ms: number;
  steady_lag_p50_ms: number;
  steady_lag_p99_ms: number;
  peak_rss_mb: number;
  steady_peak_rss_mb: number;
  daemon_cpu_us_per_event: number;
  postgres_cpu_us_per_event: number;
  cpu_bound_events_per_s: number;
  end_to_end_over_cpu_bound: number;
  outage_events: number;
  outage_restore_to_first_write_s: number;
  outage_restore_to_last_commit_s: number;
  outage_drain_events_per_s: number;
  outage_firehose_events_per_s: number;
  outage_drain_over_firehose: number;
  outage_peak_rss_mb: number;
  outage_peak_spool_bytes: number;
  outage_wrong_rows: number;
  machine: { cpus: number };
  postgres: { version: string };
  settings: { events: number; listings: number; batch_max_wait_ms: number; outage_events: number };
}

const ref = JSON.parse(read('bench/results/reference.json')) as Reference;

/** docs/performance.md's first section (the bench's figures), up to the next section. */
function performanceSection(): string {
  const doc = read('docs/performance.md');
  expect(doc.startsWith('# Performance\n'), 'docs/performance.md starts with its title').toBe(true);
  const end = doc.indexOf('\n## ');
  return doc.slice(0, end < 0 ? undefined : end);
}

/**
 * Numbers in `text` as written, with the digits after the point (thousands may be grouped with a
 * space: "26 500"). Code spans (`--window 100000`, `BATCH_MAX_WAIT_MS`) are not figures and are skipped.
 */
function numbers(text: string): { value: number; digits: number }[] {
  const plain = text.replace(/`[^`]*`/g, ' ');
  return [...plain.matchAll(/\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?/g)].map((m) => {
    const s = m[0].replace(/[ \u00a0\u202f]/g, '');
    return { value: Number(s), digits: s.includes('.') ? s.length - s.indexOf('.') - 1 : 0 };
  });
}

/** `quoted` (numbers as docs/performance.md writes them) against `expected` (the file's), each rounded to the digits shown. */
function expectQuotes(where: string, quoted: { value: number; digits: number }[], expected: number[]): void {
  expect(quoted.length, `${where}: ${quoted.length} numbers quoted, ${expected.length} expected`).toBe(expected.length);
  quoted.forEach((q, i) => {
    const e = expected[i] as number;
    expect(q.value, `${where}: number ${i + 1} is ${q.value}, reference.json has ${e}`).toBe(Number(e.toFixed(q.digits)));
  });
}

/** Each row of the table, by the start of its label: the file's figures, in the order the row quotes them. */
const ROWS: [label: string, figures: () => number[]][] = [
  ['end to end', () => [ref.events_per_s]],
  ['the limit', () => [ref.limit_rows_per_s, ref.ratio_to_limit]],
  [
    'the CPU bound',
    () => [ref.cpu_bound_events_per_s, ref.machine.cpus, ref.daemon_cpu_us_per_event, ref.postgres_cpu_us_per_event, ref.end_to_end_over_cpu_bound],
  ],
  ['the naive way', () => [ref.naive_events_per_s, ref.events_per_s / ref.naive_events_per_s]],
  ['ingest lag at full speed', () => [ref.lag_p50_ms, ref.lag_p99_ms]],
  ['steady', () => [ref.steady_lag_p50_ms, ref.steady_lag_p99_ms, ref.settings.batch_max_wait_ms]],
  ['peak memory (RSS) at full speed', () => [ref.peak_rss_mb, ref.steady_peak_rss_mb]],
  [
    'catching up after an outage',
    () => [
      ref.outage_restore_to_last_commit_s,
      ref.outage_restore_to_first_write_s,
      ref.outage_drain_events_per_s,
      ref.outage_drain_over_firehose,
      ref.outage_firehose_events_per_s,
      ref.outage_wrong_rows,
    ],
  ],
  ['peak memory (RSS) during that outage', () => [ref.outage_peak_rss_mb, ref.outage_peak_spool_bytes / 1048576]],
];

describe('the Performance figures of docs/performance.md', () => {
  const section = performanceSection();
  // The first table only (the embedded database's comes after a paragraph), without its header and rule.
  const firstTable = (section.slice(section.indexOf('\n|') + 1).split('\n\n')[0] ?? '').split('\n').filter((l) => l.startsWith('|')).slice(2);

  it('come from bench/results/reference.json: every row of the table, every number in it', () => {
    expect(firstTable.length).toBeGreaterThan(0);
    const seen = new Set<string>();
    for (const line of firstTable) {
      const [label = '', figure = ''] = line.split('|').slice(1).map((c) => c.trim());
      const row = ROWS.find(([prefix]) => label.startsWith(prefix));
      expect(row, `docs/performance.md row "${label}" has no check here: add one to ROWS`).toBeDefined();
      if (!row) continue;
      seen.add(row[0]);
      expectQuotes(label, numbers(figure), row[1]());
    }
    expect([...seen].sort()).toEqual(ROWS.map(([l]) => l).sort());
  });

  it('describe the run the file holds: cores, Postgres, events, listings, the outage backlog', () => {
    const intro = section.slice(0, section.indexOf('\n|')).replace(/\s+/g, ' ');
    const m = /On a (\d+)-core machine with Postgres (\d+) on the same host, ([\d ]+) backpack\.tf events .*? over ([\d ]+)\s+listings.*?backlog of ([\d ]+) events/s.exec(intro);
    expect(m, `the sentence before the table names the machine and the run: ${intro}`).not.toBeNull();
    if (!m) return;
    const int = (s: string | undefined) => Number((s ?? '').replace(/ /g, ''));
    expect(int(m[1])).toBe(ref.machine.cpus);
    expect(int(m[2])).toBe(Number(/PostgreSQL (\d+)/.exec(ref.postgres.version)?.[1]));
    expect(int(m[3])).toBe(ref.settings.events);
    expect(int(m[4])).toBe(ref.settings.listings);
    expect(int(m[5])).toBe(ref.settings.outage_events);
  });

  it('are of a run with nothing lost: the outage left every row right', () => {
    expect(ref.outage_wrong_rows).toBe(0);
  });
});
