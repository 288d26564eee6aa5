/**
 * deploy/prometheus/alerts.yml: promtool accepts it and its unit tests (alerts.test.yml) pass, and
 * every metric it queries is one the daemon exports, so renaming a metric in src/metrics.ts breaks
 * this test rather than silently disabling an alert.
 *
 * promtool comes from Debian's `prometheus` package (.ci/run installs it). Without it on PATH the
 * promtool tests are skipped locally and fail in CI (`CI` set).
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONNECTION_STATES } from '../../src/core/transport/reconnecting-socket.js';
import { createMetrics } from '../../src/metrics.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const RULES = 'deploy/prometheus/alerts.yml';
const RULE_TESTS = 'deploy/prometheus/alerts.test.yml';

interface Rule {
  readonly alert?: string;
  readonly expr?: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
interface RuleFile {
  readonly groups: readonly { readonly name: string; readonly rules: readonly Rule[] }[];
}
interface RuleTestFile {
  readonly tests: readonly {
    readonly alert_rule_test?: readonly { readonly alertname: string; readonly exp_alerts?: readonly unknown[] }[];
  }[];
}

const readYaml = <T>(file: string): T => parse(readFileSync(join(root, file), 'utf8')) as T;
const ruleFile = readYaml<RuleFile>(RULES);
const rules = ruleFile.groups.flatMap((g) => g.rules);
const alerts = rules.filter((r): r is Rule & { alert: string; expr: string } => r.alert !== undefined && r.expr !== undefined);

/** Is promtool on PATH? */
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).error === undefined;
const inCi = !['', '0', 'false'].includes(process.env.CI ?? '');

/** Runs promtool from the repository root; resolves with its exit code and stdout + stderr (never rejects). */
function promtool(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { cwd: root }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, output: `${stdout}${stderr}${err !== null && typeof err.code !== 'number' ? String(err) : ''}` });
    });
  });
}

/** Series names the registry exposes: a histogram `x` is scraped as `x_bucket`, `x_count` and `x_sum`. */
async function exportedSeriesNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await createMetrics().registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) names.add(m.name + s);
    else if (type === 'summary') for (const s of ['', '_count', '_sum']) names.add(m.name + s);
    else names.add(m.name); // counters are declared with their `_total` suffix
  }
  return names;
}

const SKIP_REASON = "promtool is not on PATH (it is in Debian's `prometheus` package: apt-get install prometheus); skipping promtool check/test rules";
if (!hasPromtool && !inCi) console.warn(`alert-rules.test.ts: ${SKIP_REASON}`);
const suffix = hasPromtool ? '' : inCi ? ' (promtool missing: .ci/run should have installed it)' : ` (skipped: ${SKIP_REASON})`;

describe(`Prometheus alert rules, promtool${suffix}`, () => {
  const requirePromtool = () => {
    if (!hasPromtool) {
      expect.fail("promtool is not on PATH, and CI is set: .ci/run installs Debian's `prometheus` package, which provides /usr/bin/promtool");
    }
  };

  it.skipIf(!hasPromtool && !inCi)(`promtool check rules ${RULES}`, async () => {
    requirePromtool();
    const r = await promtool(['check', 'rules', RULES]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it.skipIf(!hasPromtool && !inCi)(`promtool test rules ${RULE_TESTS}`, async () => {
    requirePromtool();
    const r = await promtool(['test', 'rules', RULE_TESTS]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });
});

describe('Prometheus alert rules, contents', () => {
  it('query only metrics that src/metrics.ts exports', async () => {
    const exported = await exportedSeriesNames();
    const used = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/\btributary_[a-z0-9_]+/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThan(0);
    expect([...used].filter((n) => !exported.has(n)), "not exported by createMetrics() (src/metrics.ts)").toEqual([]);
  });

  it('match only connection states the daemon sets', () => {
    const states = alerts.flatMap((a) => [...a.expr.matchAll(/\bstate\s*=\s*"([^"]*)"/g)].map((m) => m[1]));
    expect(states.length).toBeGreaterThan(0);
    expect(states.filter((s) => !(CONNECTION_STATES as readonly (string | undefined)[]).includes(s))).toEqual([]);
  });

  it('give every alert a for:, a severity of page or warn, a summary and a description', () => {
    expect(ruleFile.groups.map((g) => g.name)).toEqual(['tributary']);
    expect(alerts.length).toBe(rules.length);
    for (const a of alerts) {
      expect(a.for, a.alert).toMatch(/^\d+[smh]$/);
      expect(['page', 'warn'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
    }
    expect(new Set(alerts.map((a) => a.alert)).size, 'alert names are unique').toBe(alerts.length);
  });

  it('have a unit test in which each alert fires', () => {
    const cases = readYaml<RuleTestFile>(RULE_TESTS).tests.flatMap((t) => t.alert_rule_test ?? []);
    const fired = new Set(cases.filter((c) => (c.exp_alerts?.length ?? 0) > 0).map((c) => c.alertname));
    expect(alerts.map((a) => a.alert).filter((n) => !fired.has(n))).toEqual([]);
  });
});
