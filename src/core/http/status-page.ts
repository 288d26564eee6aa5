import { sendJson, type RouteHandler } from './server.js';
import type { RatePoint } from '../status/rate-history.js';
import type { FeedSnapshot, StatusSnapshot } from '../status/status-snapshot.js';

/** How often the open page fetches itself again (ms). */
export const STATUS_PAGE_REFRESH_MS = 5_000;

/** The page may run its own inline script and styles and fetch itself; nothing else (no external assets). */
export const STATUS_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:";

const CHART_W = 300;
const CHART_H = 56;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
function rate(perSecond: number): string {
  return perSecond >= 10 || perSecond === 0 ? integer.format(perSecond) : perSecond.toFixed(1);
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}

function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

function ago(iso: string | null, now: number): string {
  if (!iso) return 'never';
  return `${duration(Math.max(0, now - Date.parse(iso)))} ago`;
}

/** Green when events can flow, amber while (re)connecting, red when the upstream refused us. */
function stateClass(state: string): string {
  if (state === 'connected') return 'ok';
  if (state === 'auth_failed' || state === 'config_error' || state === 'db_refusing') return 'bad';
  if (state === 'stopped') return 'idle';
  return 'warn';
}

/** A series as steps (the rate held over each bucket), dropping to the axis across a gap (a stop); open at the end. */
function stepPath(points: readonly RatePoint[], x: (at: number) => number, y: (v: number) => number): string {
  let d = '';
  let prevAt = -Infinity;
  for (const p of points) {
    if (p.from > prevAt) d += `${d ? ` L${x(prevAt).toFixed(1)},${CHART_H}` : ''} M${x(p.from).toFixed(1)},${CHART_H}`;
    d += ` L${x(p.from).toFixed(1)},${y(p.perSecond).toFixed(1)} L${x(p.at).toFixed(1)},${y(p.perSecond).toFixed(1)}`;
    prevAt = p.at;
  }
  return `${d.trim()} L${x(prevAt).toFixed(1)},${CHART_H}`;
}

/**
 * Events per second over the window, scaled to the peak of both series; the x axis is wall time.
 * Written is the filled area, received (when given) the line over it: apart, they show events
 * arriving while their writes are held.
 */
export function rateChart(points: readonly RatePoint[], now: number, windowMs: number, received?: readonly RatePoint[]): string {
  const peakOf = (ps: readonly RatePoint[]) => ps.reduce((m, p) => Math.max(m, p.perSecond), 0);
  const peak = peakOf(points);
  const current = points.at(-1)?.perSecond ?? 0;
  const minutes = Math.round(windowMs / 60_000);
  const scale = Math.max(peak, peakOf(received ?? []));
  const receivedNow = received?.at(-1)?.perSecond ?? 0;
  const label =
    `events written per second over the last ${minutes} min: now ${rate(current)}, peak ${rate(peak)}` +
    (received ? `; received: now ${rate(receivedNow)}, peak ${rate(peakOf(received))}` : '');
  const x = (at: number) => (Math.min(windowMs, Math.max(0, at - (now - windowMs))) / windowMs) * CHART_W;
  const y = (v: number) => CHART_H - (scale > 0 ? (v / scale) * (CHART_H - 4) : 0);
  const area = points.length > 0 ? `<path class="area" d="${stepPath(points, x, y)} Z"/>` : '';
  const line = received && received.length > 0 ? `<path class="received" d="${stepPath(received, x, y)}"/>` : '';
  return (
    `<figure class="chart"><svg role="img" aria-label="${esc(label)}" viewBox="0 0 ${CHART_W} ${CHART_H}" width="${CHART_W}" height="${CHART_H}" preserveAspectRatio="none">` +
    `<line class="axis" x1="0" y1="${CHART_H - 0.5}" x2="${CHART_W}" y2="${CHART_H - 0.5}"/>${area}${line}</svg>` +
    `<figcaption><span class="key written"></span>written <span class="now">${rate(current)} events/s now</span>` +
    (received ? ` · <span class="key received"></span>received <span class="recv">${rate(receivedNow)} events/s</span>` : '') +
    ` · peak ${rate(peak)}/s · last ${minutes} min</figcaption></figure>`
  );
}

/** A feed that reads while its writes are held (database down or refusing) is not green: its events only wait. */
function feedState(f: FeedSnapshot): string {
  if (f.writesHeld && f.state === 'connected') return '<span class="state warn" title="connected upstream; the database takes no writes, events wait">connected · writes held</span>';
  return `<span class="state ${stateClass(f.state)}">${esc(f.state)}</span>`;
}

function feedCard(f: FeedSnapshot, s: StatusSnapshot, now: number): string {
  const role = f.leader ? 'leader' : f.state === 'stopped' ? 'not running here' : 'standby';
  const rows: Array<[string, string]> = [
    ['received', integer.format(f.eventsReceived)],
    ['written', integer.format(f.eventsWritten)],
    ['lag', f.lagMs === null ? '–' : duration(f.lagMs)],
    ['last event', ago(f.lastEventAt, now)],
    ['connected', f.connectedSince ? `since ${ago(f.connectedSince, now)}` : 'no'],
    ['reconnects', integer.format(f.reconnects)],
  ];
  return (
    `<section class="feed" data-source="${esc(f.source)}"><header><h2>${esc(f.source)}</h2>` +
    `${feedState(f)}<span class="role">${esc(role)}</span></header>` +
    rateChart(f.rate, now, s.chart.windowMs, f.received) +
    `<dl>${rows.map(([k, v]) => `<div><dt>${k}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>` +
    (f.lastError ? `<p class="error"><strong>last error</strong> ${esc(f.lastError)}</p>` : '') +
    `</section>`
  );
}

/** The whole page for GET /: server-rendered, so it reads without script; the script only refreshes it. */
export function renderStatusPage(s: StatusSnapshot): string {
  const now = Date.parse(s.generatedAt);
  const r = s.readiness;
  const overall = r.ready ? '<span class="state ok">ready</span>' : '<span class="state bad">not ready</span>';
  const dropping = r.dropping_events
    ? `<p class="error"><strong>dropping events</strong> ${esc(`${r.dropping_events.writer}: ${r.dropping_events.reason}${r.dropping_events.error ? ` (${r.dropping_events.error})` : ''}`)}</p>`
    : '';
  const refusing =
    r.database === 'refusing'
      ? `<p class="error"><strong>the database refuses writes</strong> ${esc(`SQLSTATE ${r.sqlstate ?? '?'}: ${r.reason ?? ''}`)}. Events are held (memory, then spool) and written when it accepts them again.</p>`
      : '';
  const since = r.database_down_since ? ` since ${r.database_down_since} (${ago(r.database_down_since, now)})` : '';
  const host = `${s.database.host}${s.database.embedded ? ' (embedded)' : ''}`;
  const down =
    r.database === 'down'
      ? `<p class="error outage"><strong>database down${esc(since)}</strong> at ${esc(host)}. Events wait in memory, then in the spool, and are written when it answers again.</p>`
      : '';
  const waiting = s.buffer.events > 0 || s.spool.bytes > 0;
  const summary: Array<[string, string]> = [
    ['database', `${r.database === 'refusing' ? `refusing writes (SQLSTATE ${r.sqlstate ?? '?'})` : r.database}${since} · ${host}`],
    ['migrations', r.migrations],
    ['buffer', `${integer.format(s.buffer.events)} of ${integer.format(s.buffer.maxEvents)} events · ${bytes(s.buffer.bytes)} of ${bytes(s.buffer.maxBytes)}`],
    ['spool', `${bytes(s.spool.bytes)} of ${bytes(s.spool.maxBytes)}${s.spool.bytes > 0 ? ` · oldest ${integer.format(r.spool_oldest_s)} s` : ''}`],
    ['oldest waiting', waiting ? duration(r.oldest_waiting_s * 1000) : '–'],
  ];
  const gaps =
    s.openGaps === undefined
      ? `<p class="gaps">open gaps: unknown (${r.migrations === 'pending' ? 'migrations pending' : 'the database did not answer'})</p>`
      : s.openGaps.length === 0
        ? '<p class="gaps">open gaps: none</p>'
        : `<div class="gaps error"><strong>open gaps</strong> (events sent meanwhile may be missing)<ul>${s.openGaps
            .map((g) => `<li>${esc(g.source)}: since ${esc(g.startedAt.toISOString())} (${esc(ago(g.startedAt.toISOString(), now))}), ${esc(g.reason)}</li>`)
            .join('')}</ul></div>`;
  const feeds = s.feeds.length > 0 ? s.feeds.map((f) => feedCard(f, s, now)).join('') : '<p>No feed is enabled: set the variables of at least one feed (README, Configuration).</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>tributary · ${esc(s.instance)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:CanvasText;background:Canvas}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:0}
.summary,.feed dl{display:flex;flex-wrap:wrap;gap:4px 20px;margin:8px 0}.summary div,.feed dl div{display:flex;gap:6px}
dt{color:GrayText}dd{margin:0;font-variant-numeric:tabular-nums}
.feeds{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px;margin-top:12px}
.feed{border:1px solid color-mix(in srgb,CanvasText 20%,transparent);border-radius:8px;padding:12px}
.feed header{display:flex;align-items:center;gap:8px}.role{color:GrayText}
.state{border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600}
.ok{background:#1a7f37;color:#fff}.warn{background:#bf8700;color:#fff}.bad{background:#cf222e;color:#fff}.idle{background:#6e7781;color:#fff}
.chart{margin:10px 0 0}.chart svg{display:block;width:100%;height:56px}.area{fill:#2f81f766;stroke:#2f81f7;stroke-width:1}
.received{fill:none;stroke:#bf8700;stroke-width:1.5;stroke-dasharray:4 2;vector-effect:non-scaling-stroke}
.key{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}.key.written{background:#2f81f7}.key.received{background:#bf8700}
.axis{stroke:GrayText;stroke-width:1}figcaption{color:GrayText;font-size:12px}.now{color:CanvasText;font-weight:600}
.error{color:#cf222e;overflow-wrap:anywhere;margin:8px 0 0}.gaps{margin:8px 0 0}.gaps ul{margin:4px 0 0;padding-left:20px}footer{color:GrayText;font-size:12px;margin-top:12px}
</style></head>
<body><main>
<h1>tributary ${overall}</h1>
<div class="summary">${summary.map(([k, v]) => `<div><dt>${k}</dt><dd>${esc(v)}</dd></div>`).join('')}</div>
${down}${refusing}${dropping}${gaps}<div class="feeds">${feeds}</div>
<footer>instance ${esc(s.instance)} · ${esc(s.generatedAt)} · refreshes every ${STATUS_PAGE_REFRESH_MS / 1000} s · <a href="/status.json">status.json</a> · <a href="/metrics">metrics</a></footer>
</main>
<script>
// Fetch the page again and swap its <main>: a refresh without a flash or a lost scroll position.
setInterval(async () => {
  try {
    const res = await fetch(location.pathname, { cache: 'no-store' });
    const next = new DOMParser().parseFromString(await res.text(), 'text/html').querySelector('main');
    if (next) document.querySelector('main').replaceWith(next);
  } catch {}
}, ${STATUS_PAGE_REFRESH_MS});
</script>
</body></html>
`;
}

/** GET / (the page) and GET /status.json (the same figures for scripts). */
export function addStatusPage(server: { route(method: string, path: string, handler: RouteHandler): void }, snapshot: () => Promise<StatusSnapshot>): void {
  server.route('GET', '/', async (_req, res) => {
    const html = renderStatusPage(await snapshot());
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(html),
      'cache-control': 'no-store',
      'content-security-policy': STATUS_PAGE_CSP,
    });
    res.end(html);
  });
  server.route('GET', '/status.json', async (_req, res) => sendJson(res, 200, await snapshot()));
}
