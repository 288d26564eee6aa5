import { describe, expect, it } from 'vitest';
import { LIMIT_EVENTS } from '../../src/feeds/bptf/parse.js';
import type { BptfEvent } from '../../src/simulator/bptf-events.js';
import type { TestApp } from '../helpers/app.js';
import { useBptfDaemon } from '../helpers/bptf-daemon.js';
import { count } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

/** `event` label -> value of every tributary_events_ignored_total series of `source` on /metrics. */
async function ignoredSeries(app: TestApp, source: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).text();
  const series = new Map<string, number>();
  for (const m of text.matchAll(/^tributary_events_ignored_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.source === source) series.set(labels.event as string, Number(m[2]));
  }
  return series;
}

describe('metric labels from upstream data stay bounded', () => {
  const h = useBptfDaemon();

  it('1,000 distinct unknown backpack.tf event names make one "other" series; a known name keeps its own', async () => {
    const { app, server, tdb } = h;
    const unknown: BptfEvent[] = Array.from({ length: 1000 }, (_, i) => ({ id: (0x6934_0000 + i).toString(16).padEnd(24, '0'), event: `mystery-event-${i}`, payload: { id: `440_${i}` } }));
    for (let i = 0; i < unknown.length; i += 100) server.sendEvents(unknown.slice(i, i + 100));
    await waitFor(async () => (await ignoredSeries(app, 'bptf')).get('other') === 1000, 'the 1,000 counted as other');
    // A limit notice: a known name (the feed then reconnects with backoff).
    server.sendEvents([{ id: '69340000000000000000ffff', event: 'client-limit-exceeded', payload: {} }]);
    await waitFor(async () => (await ignoredSeries(app, 'bptf')).get('client-limit-exceeded') === 1, 'the limit notice counted');
    const series = await ignoredSeries(app, 'bptf');
    expect([...series.keys()].sort()).toEqual(['client-limit-exceeded', 'other']);
    for (const label of series.keys()) expect([...LIMIT_EVENTS, 'other']).toContain(label);
    // The events themselves are not lost: each unknown one is an ingest_rejects row.
    await waitFor(async () => (await count(tdb.db, 'ingest_rejects')) === 1000, 'the 1,000 kept in ingest_rejects');
  });
});
