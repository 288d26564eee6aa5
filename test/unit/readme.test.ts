/**
 * The README stays a page a newcomer reads: at most 300 lines, the status page URL on its first
 * screen, the test command CI runs. Every relative link in it and in the documents it leads to
 * (docs/*.md, ARCHITECTURE.md) names a file of the repository, and a heading of it when the link
 * has an anchor. The license file matches package.json.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');

const README_MAX_LINES = 300;
/** About one screen of a terminal or a repository page. */
const FIRST_SCREEN_LINES = 40;

const readme = read('README.md');
const documents = ['README.md', 'ARCHITECTURE.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Markdown text outside fenced code blocks. */
function prose(markdown: string): string {
  let fence = false;
  return markdown
    .split('\n')
    .filter((line) => {
      if (/^\s*```/.test(line)) {
        fence = !fence;
        return false;
      }
      return !fence;
    })
    .join('\n');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  return new Set([...prose(markdown).matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1] ?? '')));
}

describe('README.md', () => {
  it(`is at most ${README_MAX_LINES} lines`, () => {
    const lines = readme.replace(/\n$/, '').split('\n').length;
    expect(lines).toBeLessThanOrEqual(README_MAX_LINES);
  });

  it(`names the status page URL within its first ${FIRST_SCREEN_LINES} lines`, () => {
    const first = readme.split('\n').slice(0, FIRST_SCREEN_LINES).join('\n');
    expect(first).toContain('http://127.0.0.1:8080/');
  });

  it('shows the two commands: npm ci && npm start, and npm test (the command .ci/run runs)', () => {
    expect(readme).toMatch(/^npm ci && npm start$/m);
    expect(readme).toMatch(/^npm test$/m);
    expect(read('.ci/run')).toMatch(/^npm test\b/m);
  });
});

describe('links in README.md, ARCHITECTURE.md and docs/', () => {
  it.each(documents)('%s: every relative link names a file, and a heading when it has an anchor', (file) => {
    const broken: string[] = [];
    for (const m of prose(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] ?? '';
      if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
      const [path = '', anchor] = target.split('#');
      const resolved = path === '' ? file : normalize(join(dirname(file), path));
      if (!existsSync(join(root, resolved))) {
        broken.push(`${target} (no ${resolved})`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchors(read(resolved)).has(anchor)) {
        broken.push(`${target} (no heading #${anchor} in ${resolved})`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('LICENSE', () => {
  it('is the MIT license package.json names', () => {
    const pkg = JSON.parse(read('package.json')) as { license?: string };
    expect(pkg.license).toBe('MIT');
    const license = read('LICENSE');
    expect(license).toMatch(/^MIT License$/m);
    expect(license).toMatch(/^Copyright \(c\) 2026 tributary contributors$/m);
  });
});
