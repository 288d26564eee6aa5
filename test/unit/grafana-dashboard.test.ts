/**
 * deploy/grafana/tributary.json and deploy/prometheus/prometheus.yml: the dashboard queries only
 * metrics the daemon exports (renaming one in src/metrics.ts breaks this test rather than leaving an
 * empty panel), shows every metric the daemon defines, and its queries are PromQL that Prometheus
 * parses; the scrape example is a configuration Prometheus accepts, with the job name the alert
 * rules expect.
 *
 * promtool comes from Debian's `prometheus` package (.ci/run installs it). Without it on PATH the
 * promtool tests are skipped locally and fail in CI (`CI` set), as in alert-rules.test.ts.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DASHBOARD = 'deploy/grafana/tributary.json';
const SCRAPE = 'deploy/prometheus/prometheus.yml';

interface Target {
  readonly expr?: string;
}
interface Panel {
  readonly id?: number;
  readonly type?: string;
  readonly title?: string;
  readonly datasource?: { readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly uid?: string;
  readonly title?: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly query?: unknown }[] };
}

const dashboard = JSON.parse(readFileSync(join(root, DASHBOARD), 'utf8')) as Dashboard;
/** Every panel, rows' nested panels included. */
const panels: Panel[] = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
const variableQueries = dashboard.templating.list.map((v) => JSON.stringify(v.query ?? ''));
const metricNames = (text: string) => [...text.matchAll(/\btributary_[a-z0-9_]+/g)].map((m) => m[0]);

/** Series names of a metric as scraped: a histogram `x` is `x_bucket`, `x_count` and `x_sum`. */
function seriesNames(name: string, type: string): string[] {
  if (type === 'histogram') return ['_bucket', '_count', '_sum'].map((s) => name + s);
  if (type === 'summary') return ['', '_count', '_sum'].map((s) => name + s);
  return [name]; // counters are declared with their `_total` suffix
}

/** Metrics a feed registers on the app's registry itself (e.g. bptf's quote delay), found in src/feeds. */
function feedMetrics(): { name: string; type: string }[] {
  const found: { name: string; type: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        for (const m of text.matchAll(/'(tributary_[a-z0-9_]+)'[\s\S]{0,600}?new (Counter|Gauge|Histogram|Summary)\b/g)) {
          found.push({ name: m[1] ?? '', type: (m[2] ?? '').toLowerCase() });
        }
      }
    }
  };
  walk(join(root, 'src/feeds'));
  return found;
}

async function exportedMetrics(): Promise<{ name: string; type: string }[]> {
  const core = (await createMetrics().registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
  return [...core, ...feedMetrics()];
}

const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).error === undefined;
const inCi = !['', '0', 'false'].includes(process.env.CI ?? '');
const runPromtool = hasPromtool || inCi;
const suffix = hasPromtool ? '' : inCi ? ' (promtool missing: .ci/run should have installed it)' : ' (skipped: promtool is not on PATH)';

function promtool(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { cwd: root }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, output: `${stdout}${stderr}${err !== null && typeof err.code !== 'number' ? String(err) : ''}` });
    });
  });
}

describe('Grafana dashboard, contents', () => {
  it('is one dashboard with a uid, a title, unique panel ids and a query in every panel', () => {
    expect(dashboard.uid).toBe('tributary');
    expect(dashboard.title).toBeTruthy();
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size, 'panel ids are unique').toBe(ids.length);
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(p.targets?.length ?? 0, `${p.title}: a query`).toBeGreaterThan(0);
      expect(p.datasource?.uid, `${p.title}: the dashboard's data source variable`).toBe('${datasource}');
    }
    expect(dashboard.templating.list.map((v) => v.name)).toContain('datasource');
  });

  it('queries only metrics that the daemon exports', async () => {
    const exported = new Set((await exportedMetrics()).flatMap((m) => seriesNames(m.name, m.type)));
    const used = new Set([...exprs, ...variableQueries].flatMap(metricNames));
    expect(used.size).toBeGreaterThan(0);
    expect([...used].filter((n) => !exported.has(n)), 'not exported by createMetrics() (src/metrics.ts) or a feed').toEqual([]);
  });

  it("shows every metric the daemon defines (the process's own metrics aside)", async () => {
    const used = new Set(exprs.flatMap(metricNames));
    const missing = (await exportedMetrics())
      .filter((m) => !m.name.startsWith('tributary_process_'))
      .filter((m) => !seriesNames(m.name, m.type).some((s) => used.has(s)))
      .map((m) => m.name);
    expect(missing, 'metrics no panel shows').toEqual([]);
  });
});

describe(`Grafana dashboard and scrape example, promtool${suffix}`, () => {
  it.skipIf(!runPromtool)('every panel query is PromQL that Prometheus parses', async () => {
    expect(hasPromtool, "promtool is not on PATH, and CI is set: .ci/run installs Debian's `prometheus` package").toBe(true);
    // Grafana's variables replaced by values a query would get, each query checked as a recording rule.
    const concrete = (e: string) =>
      e.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$instance', '.*');
    const rules = { groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard_query_${i}`, expr: concrete(e) })) }] };
    const dir = mkdtempSync(join(tmpdir(), 'tributary-dashboard-'));
    try {
      const file = join(dir, 'queries.yml');
      writeFileSync(file, JSON.stringify(rules));
      const r = await promtool(['check', 'rules', file]);
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!runPromtool)(`promtool check config ${SCRAPE} (with the alert rules it loads)`, async () => {
    expect(hasPromtool, "promtool is not on PATH, and CI is set: .ci/run installs Debian's `prometheus` package").toBe(true);
    const r = await promtool(['check', 'config', SCRAPE]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });
});

describe('scrape example', () => {
  it('scrapes /metrics in a job named tributary, the name the alert rules expect, and loads them', () => {
    const config = parse(readFileSync(join(root, SCRAPE), 'utf8')) as {
      rule_files?: string[];
      scrape_configs?: { job_name: string; metrics_path?: string; static_configs?: { targets: string[] }[] }[];
    };
    const job = config.scrape_configs?.find((j) => j.job_name === 'tributary');
    expect(job, 'a job named tributary').toBeDefined();
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job?.static_configs?.flatMap((s) => s.targets)).toContain('127.0.0.1:8080');
    expect(config.rule_files).toContain('alerts.yml');
    expect(readFileSync(join(root, 'deploy/prometheus/alerts.yml'), 'utf8')).toContain('job="tributary"');
  });
});
