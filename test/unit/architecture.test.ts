import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The layout's rules, checked on the source text: relative imports of every file under src/. */
const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** file -> the files it imports (type-only imports included: they tie modules together too). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)].map((m) =>
      resolve(dirname(file), (m[1] as string).replace(/\.js$/, '.ts')),
    );
    graph.set(file, targets);
  }
  return graph;
}

const rel = (f: string) => relative(SRC, f);

describe('architecture', () => {
  const graph = importGraph();

  it('has no import circle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'active' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'active') {
        cycles.push([...path.slice(path.indexOf(file)), file].map(rel).join(' -> '));
        return;
      }
      state.set(file, 'active');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('the core imports no feed, and names none', () => {
    const core = [...graph.keys()].filter((f) => rel(f).startsWith('core/'));
    expect(core.length).toBeGreaterThan(10);
    const offending = core.flatMap((f) => (graph.get(f) ?? []).filter((t) => rel(t).startsWith('feeds/')).map((t) => `${rel(f)} -> ${rel(t)}`));
    expect(offending).toEqual([]);
    const naming = core.filter((f) => /\b(bptf|backpack|tradepost|commerce)\b/i.test(readFileSync(f, 'utf8'))).map(rel);
    expect(naming).toEqual([]);
  });

  it('config.ts composes the feeds\' variables and names no feed', () => {
    const config = join(SRC, 'config.ts');
    // Only through the list of feed config modules, never one feed's folder.
    const imports = (graph.get(config) ?? []).filter((t) => rel(t).startsWith('feeds/')).map(rel);
    expect(imports).toEqual(['feeds/config.ts']);
    const text = readFileSync(config, 'utf8');
    // A feed's name, or one of its variables (BPTF_*, TRADEPOST_*, COMMERCE_* and the unprefixed
    // backpack.tf retentions), in code or in a comment.
    const named = [
      ...text.matchAll(/\b(bptf|backpack|tradepost|commerce)\b|\b(BPTF|TRADEPOST|COMMERCE)_[A-Z_]*|\b(TOMBSTONE|QUOTE_HISTORY|HISTORY)_RETENTION_DAYS\b/gi),
    ].map((m) => m[0]);
    expect(named).toEqual([]);
  });

  it('createApp stays a composition root: under 120 lines, the pieces in core modules', () => {
    const lines = readFileSync(join(SRC, 'app.ts'), 'utf8').split('\n');
    const start = lines.findIndex((l) => l.startsWith('export function createApp('));
    const end = lines.findIndex((l, i) => i > start && l === '}');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end - start + 1).toBeLessThan(120);
  });

  it('a feed imports no other feed', () => {
    const offending = [...graph.entries()].flatMap(([f, targets]) => {
      const m = /^feeds\/([^/]+)\//.exec(rel(f));
      if (!m) return [];
      return targets.filter((t) => /^feeds\/([^/]+)\//.exec(rel(t))?.[1] !== m[1] && rel(t).startsWith('feeds/')).map((t) => `${rel(f)} -> ${rel(t)}`);
    });
    expect(offending).toEqual([]);
  });
});
