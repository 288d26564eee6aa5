/**
 * The configuration is documented twice: `.env.example` and the variables table of
 * docs/configuration.md (its "## Variables" section).
 * `envSchema` (src/config.ts) is the source of truth; these tests fail when a variable is added,
 * removed or reordered in one place and not the others, or when `.env.example` stops showing the
 * defaults.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../src/config.js';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

const schemaNames = Object.keys(envSchema.shape);

interface ExampleLine {
  readonly name: string;
  readonly value: string;
  /** `# NAME=value`: documented but left unset. */
  readonly commented: boolean;
}

/** Every `NAME=value` line of `.env.example`, commented out (`# NAME=…`) or not, in file order. */
function exampleLines(): ExampleLine[] {
  const lines: ExampleLine[] = [];
  for (const line of read('.env.example').split(/\r?\n/)) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) lines.push({ name: m[2] ?? '', value: m[3] ?? '', commented: m[1] !== undefined });
  }
  return lines;
}

const CONFIG_DOC = 'docs/configuration.md';

/** Variable names of docs/configuration.md's variables table (rows like "| `NAME` | default | meaning |"), in order. */
function documentedNames(): string[] {
  const doc = read(CONFIG_DOC);
  const start = doc.search(/^## Variables\s*$/m);
  expect(start, `${CONFIG_DOC} has a "## Variables" section`).toBeGreaterThanOrEqual(0);
  const rest = doc.slice(start + 1);
  const end = rest.search(/^## /m);
  const section = end === -1 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/gm)].map((m) => m[1] ?? '');
}

function duplicates(names: readonly string[]): string[] {
  return names.filter((n, i) => names.indexOf(n) !== i);
}

describe('.env.example', () => {
  const lines = exampleLines();
  const names = lines.map((l) => l.name);

  it('lists every schema variable and nothing else', () => {
    expect(names.filter((n) => !schemaNames.includes(n)), 'in .env.example but not in envSchema').toEqual([]);
    expect(schemaNames.filter((n) => !names.includes(n)), 'in envSchema but not in .env.example').toEqual([]);
    expect(duplicates(names), 'listed twice in .env.example').toEqual([]);
  });

  it('lists them in the order of envSchema', () => {
    expect(names).toEqual(schemaNames);
  });

  it('comments out exactly the variables that are unset by default', () => {
    for (const { name, commented } of lines) {
      const field = envSchema.shape[name as keyof typeof envSchema.shape];
      const unsetByDefault = field.safeParse(undefined).data === undefined;
      expect(commented, `${name}: ${unsetByDefault ? 'unset by default, so commented out' : 'has a default, so set'}`).toBe(unsetByDefault);
    }
  });

  it('shows the defaults: the active lines parse to exactly what an empty environment gives', () => {
    const active = Object.fromEntries(lines.filter((l) => !l.commented).map((l) => [l.name, l.value]));
    expect(envSchema.parse(active)).toEqual(envSchema.parse({}));
  });

  it('has a comment line above every variable', () => {
    const text = read('.env.example').split(/\r?\n/);
    for (const name of schemaNames) {
      const i = text.findIndex((l) => new RegExp(`^(#\\s*)?${name}=`).test(l.trim()));
      const above = text[i - 1]?.trim() ?? '';
      expect(above.startsWith('#') && !/^#\s*[A-Z][A-Z0-9_]*=/.test(above), `${name} has a one-line comment above it`).toBe(true);
    }
  });
});

describe(`${CONFIG_DOC} variables table`, () => {
  const names = documentedNames();

  it('lists every schema variable and nothing else', () => {
    expect(names.filter((n) => !schemaNames.includes(n)), `in ${CONFIG_DOC} but not in envSchema`).toEqual([]);
    expect(schemaNames.filter((n) => !names.includes(n)), `in envSchema but not in ${CONFIG_DOC}`).toEqual([]);
    expect(duplicates(names), `listed twice in ${CONFIG_DOC}`).toEqual([]);
  });

  it('lists them in the order of envSchema', () => {
    expect(names).toEqual(schemaNames);
  });
});
