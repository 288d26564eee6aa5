import { spawnSync } from 'node:child_process';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
/** `npm start` as a user runs it, with a bad variable so that it stops right after the config check. */
const start = () => {
  const r = spawnSync(process.execPath, ['scripts/run.mjs', 'start'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', BATCH_MAX_EVENTS: 'many' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stderr: r.stderr };
};

describe('npm start', () => {
  it('compiles only when the build is missing or older than a source, and reports a bad variable without compiling', () => {
    start(); // whatever state dist/ is in, it is built after this
    // A build older than the sources: compiled again, said on stderr, never run stale.
    utimesSync(join(root, 'dist', '.build-stamp'), new Date(1_000), new Date(1_000));
    const stale = start();
    expect(stale.stderr).toContain('tributary: sources changed since the last build; compiling');
    expect(stale.status).toBe(1);
    expect(stale.stderr).toMatch(/BATCH_MAX_EVENTS/);
    // Up to date: no compile, and the config error comes at once.
    const fresh = start();
    expect(fresh.stderr).not.toContain('compiling');
    expect(fresh.stderr.trim().split('\n')).toHaveLength(1);
    expect(fresh.status).toBe(1);
    // How fast: `npm run bench:startup` measures it (a timed assertion here failed on a busy machine).
  }, 150_000);
});
