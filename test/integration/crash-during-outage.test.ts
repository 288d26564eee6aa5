import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeListingUpdate } from '../../src/simulator/bptf-events.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { useCrashRig } from '../helpers/crash-rig.js';
import { waitFor } from '../helpers/wait-for.js';

describe('a crash during a database outage', () => {
  const rig = useCrashRig();

  it('loses at most about the last second: every event sent before it is in the table after a restart', async () => {
    const env = { DATABASE_URL: rig.proxy.rewrite(rig.tdb.url), BPTF_ENABLED: 'true', BPTF_URL: rig.server.url, DATA_DIR: mkdtempSync(join(tmpdir(), 'tributary-crash-')), DATABASE_TIMEOUT_MS: '1000' };
    const first = spawnDaemon(env);
    rig.daemons.push(first);
    await rig.server.waitForConnections(1, 30_000);
    await first.httpPort();
    rig.proxy.cut();
    // 200 events/s for 4 s while the database is away, then SIGKILL.
    const sentAt: number[] = [];
    let next = 0;
    const stream = setInterval(() => {
      const events = Array.from({ length: 10 }, () => makeListingUpdate(next++, { timeSec: 1_765_600_000 }));
      rig.server.sendEvents(events);
      for (let i = 0; i < events.length; i++) sentAt.push(Date.now());
    }, 50);
    await waitFor(() => sentAt.length >= 800, '800 events sent', 10_000);
    clearInterval(stream);
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    rig.proxy.restore();

    const second = spawnDaemon(env);
    rig.daemons.push(second);
    // Events sent more than 2 s before the kill (1 s to reach the disk, its checks every 250 ms, the
    // spool's 200 ms fsync, and scheduling on a busy machine) must all be there.
    const mustHave = sentAt.filter((t) => t < killedAt - 2_000).length;
    expect(mustHave).toBeGreaterThan(300);
    const ids = Array.from({ length: mustHave }, (_, i) => String(makeListingUpdate(i, { timeSec: 1_765_600_000 }).payload.id));
    await waitFor(async () => {
      const rows = await rig.tdb.db.selectFrom('bptf_listings').select('id').where('id', 'in', ids).execute();
      return rows.length === mustHave;
    }, `the ${mustHave} events sent before the last 2 s`, 30_000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 90_000);
});
