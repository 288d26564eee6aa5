import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../src/core/data-dir-lock.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('one process per DATA_DIR', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(async () => {
    await tdb?.close();
  });

  it('a second daemon on the same DATA_DIR exits non-zero with a line naming DATA_DIR; the first runs on', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-shared-'));
    const first = spawnDaemon({ DATABASE_URL: tdb.url, DATA_DIR: dataDir });
    await first.httpPort();
    const second = spawnDaemon({ DATABASE_URL: tdb.url, DATA_DIR: dataDir });
    try {
      expect(await second.exited).not.toBe(0);
      expect(second.output()).toMatch(/DATA_DIR \S+ is in use by another tributary process/);
      expect(first.child.exitCode).toBeNull();
    } finally {
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
    }
    // Released on a clean stop: the next one starts.
    lockDataDir(dataDir)();
  });

  it('takes over the lock of a process that is gone, and refuses a live one', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-stale-'));
    // A pid that existed and has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dataDir, 'tributary.lock'), JSON.stringify({ pid: Number(dead.stdout), host: hostname() }));
    const release = lockDataDir(dataDir);
    expect(() => lockDataDir(dataDir)).toThrow(DataDirLockedError);
    release();
    // A holder on another host: stale only once it stops touching the file.
    writeFileSync(join(dataDir, 'tributary.lock'), JSON.stringify({ pid: 1, host: 'elsewhere' }));
    expect(() => lockDataDir(dataDir)).toThrow(/pid 1 on elsewhere/);
    lockDataDir(dataDir, () => Date.now() + 60_000)();
  });
});
