import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeListingUpdate, type BptfEvent } from '../../src/simulator/bptf-events.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { useCrashRig } from '../helpers/crash-rig.js';
import { diffListings, expectedListings } from '../helpers/expected-listings.js';
import { waitFor } from '../helpers/wait-for.js';

/** Spool segment files under DATA_DIR/spool (any writer). */
function spoolFiles(dataDir: string): string[] {
  try {
    return readdirSync(join(dataDir, 'spool'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ndjson'));
  } catch {
    return [];
  }
}

/** A daemon's JSON log as `component/writer: msg` lines: what a failure needs to say. */
function logMessages(output: string): string {
  return output
    .split('\n')
    .map((line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; component?: string; writer?: string };
        return `${j.component ?? ''}/${j.writer ?? ''}: ${j.msg ?? ''}`;
      } catch {
        return line.slice(0, 200);
      }
    })
    .join(' | ');
}

describe('a crash in the middle of a spool replay', () => {
  const rig = useCrashRig();

  it('SIGKILL while several segments replay, then a restart: every event written once, the final state exact', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-replay-crash-'));
    // A small memory buffer and a kept history (every event once, keyed by its id: a double would show).
    const env = { DATABASE_URL: rig.proxy.rewrite(rig.tdb.url), BPTF_ENABLED: 'true', BPTF_URL: rig.server.url, DATA_DIR: dataDir, BPTF_HISTORY: 'true', BUFFER_MAX_EVENTS: '500', BATCH_MAX_EVENTS: '200' };
    const first = spawnDaemon(env);
    rig.daemons.push(first);
    await first.httpPort();
    await rig.server.waitForConnections(1, 30_000);
    rig.proxy.cut();
    // 12,000 events (8,000 listings, a third of them updated later), ~2 KB each: several 8 MiB segments.
    const sent: BptfEvent[] = [];
    // Event times of the last hours: bptf_listing_events keeps HISTORY_RETENTION_DAYS.
    const t0 = Math.floor(Date.now() / 1000) - 3_600;
    for (let i = 0; i < 120; i++) {
      const frame = Array.from({ length: 100 }, (_, j) => {
        const n = i * 100 + j;
        return n % 3 === 2 ? makeListingUpdate(Math.floor(n / 3), { timeSec: t0 + i, seed: n }) : makeListingUpdate(8_000 + n, { timeSec: t0 + i });
      });
      rig.server.sendEvents(frame);
      sent.push(...frame);
    }
    const metricValue = async (name: string) => {
      const text = await fetch(`http://127.0.0.1:${await first.httpPort()}/metrics`).then((r) => r.text());
      return Number(new RegExp(`^${name}\\{source="bptf"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    };
    await waitFor(async () => (await metricValue('tributary_events_received_total')) === sent.length, `the ${sent.length} events received`, 30_000);
    await waitFor(() => spoolFiles(dataDir).length >= 3, 'several spool segments', 10_000);
    rig.proxy.restore();
    // Killed once the replay has written part of the spool.
    await waitFor(async () => (await metricValue('tributary_events_written_total')) >= 2_000, 'part of the spool written', 30_000, 20);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect(spoolFiles(dataDir).length).toBeGreaterThan(0);

    const second = spawnDaemon(env);
    rig.daemons.push(second);
    await waitFor(() => spoolFiles(dataDir).length === 0, 'the spool written after the restart', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}; left: ${spoolFiles(dataDir).join(' ')}; the daemon said: ${logMessages(second.output())}`);
    });
    const expected = expectedListings(sent);
    let diff: ReturnType<typeof diffListings> | undefined;
    await waitFor(
      async () => {
        const rows = await rig.tdb.db.selectFrom('bptf_listings').select(['id', 'event_id', 'payload']).execute();
        diff = diffListings(rows, expected);
        return diff.missing + diff.unexpected + diff.wrongEventId + diff.wrongPayload === 0;
      },
      'bptf_listings exactly as the events sent give',
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(diff)}`);
    });
    // Every event once in the history (its primary key is the event's): none lost, none doubled.
    const history = await rig.tdb.pool.query<{ n: string; distinct: string }>('SELECT count(*) AS n, count(DISTINCT event_id) AS distinct FROM bptf_listing_events');
    expect({ n: Number(history.rows[0]?.n), distinct: Number(history.rows[0]?.distinct) }).toEqual({ n: sent.length, distinct: sent.length });
    expect(Number((await rig.tdb.pool.query('SELECT count(*) AS n FROM ingest_rejects')).rows[0].n)).toBe(0);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);
});
