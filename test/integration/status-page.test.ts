/**
 * GET / in a real headless Chromium: what a person opening the status page sees with all three
 * feeds enabled against their fake upstreams. The page must show every feed and its state, and its
 * chart must grow as events arrive, through the page's own refresh (no reload by the test).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_PAGE_REFRESH_MS } from '../../src/core/http/status-page.js';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import { FakeCommerceServer } from '../../src/simulator/commerce-server.js';
import { FakeTradePostServer } from '../../src/simulator/tradepost-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);

/** Bound for a wait that spans the page's own refresh (ms). */
const REFRESH_WAIT_MS = STATUS_PAGE_REFRESH_MS * 3;

describe.skipIf(!haveChromium)('status page in Chromium', () => {
  let tdb: TestDatabase;
  let bptf: FakeBptfServer;
  let tradepost: FakeTradePostServer;
  let commerce: FakeCommerceServer;
  let app: TestApp;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    bptf = new FakeBptfServer();
    tradepost = new FakeTradePostServer({ apiKeys: ['page_key'] });
    commerce = new FakeCommerceServer({ users: [{ email: 'page@example.com', password: 'pw' }] });
    await Promise.all([bptf.start(), tradepost.start(), commerce.start()]);
    app = await startTestApp({
      DATABASE_URL: tdb.url,
      INSTANCE_ID: 'page-test',
      BPTF_ENABLED: 'true',
      BPTF_URL: bptf.url,
      TRADEPOST_URL: tradepost.url,
      TRADEPOST_API_KEY: 'page_key',
      COMMERCE_WS_URL: commerce.wsUrl,
      COMMERCE_LOGIN_URL: commerce.loginUrl,
      COMMERCE_USERNAME: 'page@example.com',
      COMMERCE_PASSWORD: 'pw',
    });
    // The flags keep Chromium off the network it cannot reach here (background services, QUIC).
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1100, height: 520 } });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await Promise.all([bptf?.stop(), tradepost?.stop(), commerce?.stop()]);
    await tdb?.close();
  });

  const feed = (source: string) => page.locator(`section.feed[data-source="${source}"]`);
  /** bptf events sent so far (each a listing of its own, so each is written). */
  let sent = 0;

  it('shows every enabled feed connected, and the summary', async () => {
    const response = await page.goto(`http://127.0.0.1:${app.httpPort}/`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    await expect.poll(() => page.title()).toBe('tributary · page-test');
    expect(await page.locator('section.feed h2').allTextContents()).toEqual(['bptf', 'tradepost', 'commerce']);
    // States come from the page's own refresh: the feeds connect within a moment of start.
    for (const source of ['bptf', 'tradepost', 'commerce']) {
      await expect.poll(() => feed(source).locator('.state').textContent(), { timeout: REFRESH_WAIT_MS }).toBe('connected');
      expect(await feed(source).locator('.role').textContent()).toBe('leader');
    }
    const summary = await page.locator('.summary').textContent();
    expect(summary).toContain('databaseup');
    expect(summary).toContain('migrationsapplied');
    expect(await page.locator('h1 .state').textContent()).toBe('ready');
  });

  it('draws the events as they arrive, without a reload', async () => {
    const chart = feed('bptf').locator('.chart');
    expect(await chart.locator('figcaption .now').textContent()).toBe('0 events/s now');
    // A flat line on the axis (its box is the stroke's width) until something is written.
    const heightBefore = (await chart.locator('path.area').boundingBox())?.height ?? 0;
    expect(heightBefore).toBeLessThan(6);

    const timeSec = Math.floor(Date.now() / 1000);
    bptf.sendEvents(Array.from({ length: 300 }, (_, i) => makeListingUpdate(i, { timeSec })));
    await expect.poll(() => feed('bptf').locator('dd').nth(1).textContent(), { timeout: REFRESH_WAIT_MS }).toBe('300');
    const height = (await feed('bptf').locator('.chart path.area').boundingBox())?.height ?? 0;
    expect(height).toBeGreaterThan(heightBefore + 30);
    // "now" is the rate of the bucket in progress (10 s) once a second of it has passed, else of the
    // last one: a bucket that ended more than a second before the page's refresh leaves it at 0 after a
    // single burst. While events keep arriving it is never 0 for long.
    sent = 300;
    const trickle = setInterval(() => bptf.sendEvents(Array.from({ length: 5 }, () => makeListingUpdate(sent++, { timeSec }))), 250);
    try {
      await expect.poll(() => feed('bptf').locator('.chart figcaption .now').textContent(), { timeout: REFRESH_WAIT_MS }).not.toBe('0 events/s now');
    } finally {
      clearInterval(trickle);
    }
    expect(await feed('bptf').locator('.chart svg').getAttribute('aria-label')).toMatch(/peak [1-9]/);
    // The other feeds received nothing: their charts stay flat.
    expect(await feed('tradepost').locator('.chart figcaption .now').textContent()).toBe('0 events/s now');

    if (process.env.UPDATE_SCREENSHOTS) {
      const file = join(dirname(fileURLToPath(import.meta.url)), '../../docs/status-page.png');
      mkdirSync(dirname(file), { recursive: true });
      await page.screenshot({ path: file, fullPage: true });
    }
  });

  it('serves the same figures as JSON', async () => {
    type Body = { feeds: Array<{ source: string; eventsWritten: number; rate: unknown[] }> };
    const status = async () => (await (await fetch(`http://127.0.0.1:${app.httpPort}/status.json`)).json()) as Body;
    expect((await status()).feeds.map((f) => f.source)).toEqual(['bptf', 'tradepost', 'commerce']);
    // Every event sent above, the last of them maybe still in its batch.
    await expect.poll(async () => (await status()).feeds[0]?.eventsWritten, { timeout: REFRESH_WAIT_MS }).toBe(sent);
    // The probe behind the page also feeds the gauges the alert rules read.
    const metrics = await (await fetch(`http://127.0.0.1:${app.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^tributary_ready 1$/m);
    expect(metrics).toMatch(/^tributary_database_up 1$/m);
  });
});

describe.skipIf(!haveChromium)('status page in Chromium, during a database outage', () => {
  let tdb: TestDatabase;
  let proxy: TcpProxy;
  let bptf: FakeBptfServer;
  let app: TestApp;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    proxy = TcpProxy.forUrl(tdb.url);
    await proxy.start();
    bptf = new FakeBptfServer();
    await bptf.start();
    app = await startTestApp({ DATABASE_URL: proxy.rewrite(tdb.url), INSTANCE_ID: 'outage-page', BPTF_ENABLED: 'true', BPTF_URL: bptf.url, DATABASE_TIMEOUT_MS: '1500' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1100, height: 620 } });
  });

  afterAll(async () => {
    proxy?.restore();
    await browser?.close();
    await app?.stop();
    await bptf?.stop();
    await proxy?.stop();
    await tdb?.close();
  });

  it('says since when the database is down and where, what waits against its limits, and shows no feed green', async () => {
    await page.goto(`http://127.0.0.1:${app.httpPort}/`);
    const state = page.locator('section.feed[data-source="bptf"] .state');
    await expect.poll(() => state.textContent(), { timeout: REFRESH_WAIT_MS }).toBe('connected');
    expect(await state.getAttribute('class')).toBe('state ok');

    proxy.cut();
    bptf.sendEvents(Array.from({ length: 40 }, (_, i) => makeListingUpdate(i, { timeSec: Math.floor(Date.now() / 1000) })));
    // Through the page's own refresh: the outage banner, the summary and the feed's card.
    await expect.poll(() => page.locator('.outage').textContent(), { timeout: REFRESH_WAIT_MS * 2 }).toMatch(/database down since \d{4}-\d\d-\d\dT[\d:.]+Z/);
    const outage = (await page.locator('.outage').textContent()) as string;
    expect(outage).toContain(`at 127.0.0.1:${proxy.port}.`);
    const summary = (await page.locator('.summary').textContent()) as string;
    expect(summary).toMatch(/databasedown since .* · 127\.0\.0\.1:\d+/);
    expect(summary).toMatch(/buffer40 of 100,000 events · [\d.]+ KiB of 64\.0 MiB/);
    expect(summary).toMatch(/spool[\d.]+ [KMG]?i?B of [\d.]+ [KMG]iB/);
    expect(summary).toMatch(/oldest waiting[\d.]+ (ms|s)/);
    expect(await state.textContent()).toBe('connected · writes held');
    expect(await state.getAttribute('class')).not.toContain('ok');
    // Received and written are drawn apart: 40 received, none written.
    const caption = (await page.locator('section.feed[data-source="bptf"] figcaption').textContent()) as string;
    expect(caption).toMatch(/written 0 events\/s now · received [\d.]+ events\/s/);
    expect(caption).not.toMatch(/received 0 events/);
    expect(await page.locator('section.feed[data-source="bptf"] path.received').count()).toBe(1);

    if (process.env.UPDATE_SCREENSHOTS) {
      const file = join(dirname(fileURLToPath(import.meta.url)), '../../docs/status-page-outage.png');
      mkdirSync(dirname(file), { recursive: true });
      await page.screenshot({ path: file, fullPage: true });
    }

    proxy.restore();
    await expect.poll(() => state.textContent(), { timeout: REFRESH_WAIT_MS * 4 }).toBe('connected');
    expect(await state.getAttribute('class')).toBe('state ok');
    expect(await page.locator('.outage').count()).toBe(0);
  }, 120_000);
});
