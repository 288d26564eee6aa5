import { describe, expect, it } from 'vitest';
import { rateChart, renderStatusPage } from '../../src/core/http/status-page.js';
import { RateHistory } from '../../src/core/status/rate-history.js';
import type { FeedSnapshot, StatusSnapshot } from '../../src/core/status/status-snapshot.js';

const T0 = Date.parse('2026-12-01T12:00:00Z');

function snapshot(feeds: FeedSnapshot[], openGaps: StatusSnapshot['openGaps'] = []): StatusSnapshot {
  return {
    instance: 'host-1',
    generatedAt: new Date(T0).toISOString(),
    readiness: {
      ready: false,
      database: 'down',
      database_down_since: new Date(T0 - 120_000).toISOString(),
      migrations: 'pending',
      buffered_events: 5,
      spool_bytes: 3 * 1024 * 1024,
      spool_oldest_s: 42,
      oldest_waiting_s: 95,
      sources: {},
    },
    database: { host: 'db.internal:5432', embedded: false },
    buffer: { events: 5, maxEvents: 100_000, bytes: 2048, maxBytes: 64 * 1024 * 1024 },
    spool: { bytes: 3 * 1024 * 1024, maxBytes: 1024 * 1024 * 1024 },
    chart: { bucketMs: 10_000, windowMs: 15 * 60_000 },
    feeds,
    openGaps,
  };
}

const feed: FeedSnapshot = {
  source: 'bptf',
  state: 'backoff',
  writesHeld: true,
  leader: true,
  connectedSince: null,
  lastEventAt: new Date(T0 - 90_000).toISOString(),
  eventsReceived: 1234567,
  eventsWritten: 1234000,
  reconnects: 3,
  lagMs: 850,
  lastError: 'connect ECONNREFUSED <script>alert(1)</script>',
  rate: [],
  received: [],
};

describe('RateHistory', () => {
  it('turns counter samples into events per second per bucket, and keeps only the window', () => {
    const h = new RateHistory({ bucketMs: 10_000, windowMs: 30_000 });
    h.sample([{ source: 'a', count: 0 }], T0);
    h.sample([{ source: 'a', count: 100 }], T0 + 10_000);
    h.sample([{ source: 'a', count: 300 }], T0 + 20_000);
    expect(h.series('a', 300, T0 + 20_000).map((p) => p.perSecond)).toEqual([10, 20]);
    // The bucket in progress: 50 events over 5 s since the last sample.
    expect(h.series('a', 350, T0 + 25_000).at(-1)).toEqual({ from: T0 + 20_000, at: T0 + 25_000, perSecond: 10 });
    h.sample([{ source: 'a', count: 300 }], T0 + 30_000);
    h.sample([{ source: 'a', count: 400 }], T0 + 40_000);
    expect(h.series('a', 400, T0 + 40_000).map((p) => p.perSecond)).toEqual([20, 0, 10]);
    expect(h.series('unknown', 0, T0)).toEqual([]);
  });
});

describe('status page', () => {
  it('escapes what upstreams and errors put in it', () => {
    const html = renderStatusPage(snapshot([feed]));
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('shows state, figures, buffer and spool in readable units', () => {
    const html = renderStatusPage(snapshot([feed]));
    expect(html).toContain('<span class="state warn">backoff</span>');
    expect(html).toContain('<span class="state bad">not ready</span>');
    expect(html).toContain('<dd>1,234,567</dd>');
    expect(html).toContain('<dd>850 ms</dd>');
    expect(html).toContain('<dd>90.0 s ago</dd>');
    expect(html).toContain('5 of 100,000 events · 2.0 KiB of 64.0 MiB');
    expect(html).toContain('<dd>3.0 MiB of 1.0 GiB · oldest 42 s</dd>');
  });

  it('in an outage: since when the database is down and where, what waits, and no green feed', () => {
    const html = renderStatusPage(snapshot([{ ...feed, state: 'connected', lastError: null }]));
    expect(html).toContain('<strong>database down since 2026-12-01T11:58:00.000Z (2 min ago)</strong> at db.internal:5432.');
    expect(html).toContain('<dd>down since 2026-12-01T11:58:00.000Z (2 min ago) · db.internal:5432</dd>');
    expect(html).toContain('<dt>oldest waiting</dt><dd>95.0 s</dd>');
    expect(html).toContain('>connected · writes held</span>');
    expect(html).not.toContain('class="state ok"');
    // Once the database is back, a connected feed is green again.
    const up = snapshot([{ ...feed, state: 'connected', writesHeld: false, lastError: null }]);
    const healthy = renderStatusPage({ ...up, readiness: { ...up.readiness, ready: true, database: 'up', database_down_since: undefined } });
    expect(healthy).toContain('<span class="state ok">connected</span>');
    expect(healthy).not.toContain('database down');
    expect(healthy).toContain('<dd>up · db.internal:5432</dd>');
  });

  it('lists open gaps, and says when there is none or the database cannot tell', () => {
    const gap = { id: '1', source: 'bptf', startedAt: new Date(T0 - 120_000), endedAt: null, reason: 'socket closed (1006)', instance: 'host-1' };
    const html = renderStatusPage(snapshot([feed], [gap]));
    expect(html).toContain('<li>bptf: since 2026-12-01T11:58:00.000Z (2 min ago), socket closed (1006)</li>');
    expect(renderStatusPage(snapshot([feed]))).toContain('open gaps: none');
    expect(renderStatusPage({ ...snapshot([feed]), openGaps: undefined })).toContain('open gaps: unknown');
  });

  it('says what to do when no feed is enabled', () => {
    expect(renderStatusPage(snapshot([]))).toContain('No feed is enabled');
  });

  it('draws a step chart scaled to its peak, placed on the time axis', () => {
    const svg = rateChart(
      [
        { from: T0 - 20_000, at: T0 - 10_000, perSecond: 5 },
        { from: T0 - 10_000, at: T0, perSecond: 10 },
      ],
      T0,
      60_000,
    );
    expect(svg).toContain('aria-label="events written per second over the last 1 min: now 10, peak 10"');
    // x: 300 px for 60 s, so the points start at 200 px; y: 52 px for the peak (4 px kept free at the top), so 5/s is 26 px above the axis.
    expect(svg).toContain('d="M200.0,56 L200.0,30.0 L250.0,30.0 L250.0,4.0 L300.0,4.0 L300.0,56 Z"');
  });

  it('draws received apart from written, labelled, on one scale', () => {
    const svg = rateChart([{ from: T0 - 10_000, at: T0, perSecond: 0 }], T0, 60_000, [{ from: T0 - 10_000, at: T0, perSecond: 20 }]);
    expect(svg).toContain('aria-label="events written per second over the last 1 min: now 0, peak 0; received: now 20, peak 20"');
    // Written stays on the axis; received reaches the top (the scale is the peak of both).
    expect(svg).toContain('<path class="area" d="M250.0,56 L250.0,56.0 L300.0,56.0 L300.0,56 Z"/>');
    expect(svg).toContain('<path class="received" d="M250.0,56 L250.0,4.0 L300.0,4.0 L300.0,56"/>');
    expect(svg).toContain('written <span class="now">0 events/s now</span>');
    expect(svg).toContain('received <span class="recv">20 events/s</span>');
  });
});
