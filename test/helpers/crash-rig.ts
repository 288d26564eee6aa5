import { afterAll, beforeAll } from 'vitest';
import { FakeBptfServer } from '../../src/simulator/bptf-server.js';
import type { DaemonProcess } from './daemon-process.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { TcpProxy } from './tcp-proxy.js';

/**
 * For a describe block that kills spawned daemons during outages: a migrated database of its own, a
 * fake backpack.tf server, and a TCP proxy to the database (started before the tests, stopped after).
 * Daemons pushed to `daemons` are SIGKILLed at the end if still running. Read the fields inside the tests.
 */
export function useCrashRig(): { tdb: TestDatabase; server: FakeBptfServer; proxy: TcpProxy; daemons: DaemonProcess[] } {
  const h = { daemons: [] as DaemonProcess[] } as { tdb: TestDatabase; server: FakeBptfServer; proxy: TcpProxy; daemons: DaemonProcess[] };
  beforeAll(async () => {
    h.tdb = await createTestDatabase();
    await h.tdb.migrate();
    h.server = new FakeBptfServer();
    await h.server.start();
    h.proxy = TcpProxy.forUrl(h.tdb.url);
    await h.proxy.start();
  });
  afterAll(async () => {
    for (const d of h.daemons) if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
    await h.server?.stop();
    await h.proxy?.stop();
    await h.tdb?.close();
  });
  return h;
}
