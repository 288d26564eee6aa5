import pg from 'pg';
import type { Logger } from '../../logger.js';
import type { PasswordSource } from '../db/password-file.js';
import { pgConnection } from '../db/pg-connection.js';
import { delay } from '../../util/delay.js';

/**
 * LeaderLock: decides whether this replica runs a singleton feed, with a Postgres session advisory
 * lock held on a dedicated connection (no other infrastructure).
 *
 * States:
 *   FOLLOWER       no lock; tries pg_try_advisory_lock every pollMs.
 *   LEADER         lock held; a heartbeat query every pollMs checks the session is alive.
 *   LEADER_ADRIFT  the lock connection was lost (the server dropped our lock with the session), or its
 *                  server turned out to be in recovery or read-only (a failover: a lock there proves
 *                  nothing, so it is dropped), but the
 *                  feed keeps running: the upstreams never replay, so a stopped feed loses events for
 *                  good, while idempotent writes make an overlap with a new leader harmless. On
 *                  reconnecting it tries the lock again: acquired -> LEADER; held by another replica
 *                  -> step down (onRelease) -> FOLLOWER. A replica that cannot reach the database at
 *                  all at start begins here too (FOLLOWER -> LEADER_ADRIFT on the first failed
 *                  connection): no replica can tell which one leads, and waiting would lose events.
 *
 * Takeover: a leader that dies closes its socket and Postgres frees the lock at once; a leader that
 * vanishes without closing (host lost) is detected by the server's TCP keepalives, set low on the lock
 * session (about 11 s). A follower polls every pollMs, so it takes over within seconds.
 *
 * Lease: a leader that is alive but frozen (SIGSTOP, a VM paused, a stalled event loop) keeps its TCP
 * connection, so neither of the above frees the lock. So the leader renews a lease: its heartbeat
 * query, at least every leaseMs / 3, moves its lock session's query_start in pg_stat_activity. A
 * follower that finds the holder's session idle for longer than leaseMs ends that session
 * (pg_terminate_backend), which frees the lock, and takes the feed at its next poll. A leader whose
 * own loop ran more than leaseMs late (it was the frozen one) stops its feed at once and starts over
 * as a follower, without waiting to find its session gone.
 */

/** Namespace of tributary's advisory locks (first key of the two-int4 form): "trib" in ASCII. */
const LOCK_NAMESPACE = 0x7472_6962;
/** True when the session's server cannot take writes: a standby in recovery, or a read-only database. */
const READ_ONLY_SQL = "SELECT (pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on') AS ro";
/** LEADER_LEASE_MS's default (ms). */
export const DEFAULT_LEASE_MS = 15_000;

export interface LeaderLockOptions {
  readonly url: string;
  /** DATABASE_PASSWORD_FILE's reader: asked at each (re)connection, so a rotated password is used; overrides the URL's. */
  readonly password?: PasswordSource;
  /** The feed's name, for the lock session's application_name. */
  readonly feed: string;
  /** The second key of the lock: the feed definition's lockId (unique among feeds). */
  readonly lockId: number;
  readonly logger: Logger;
  /** Poll and heartbeat period (ms); at most leaseMs / 3. */
  readonly pollMs?: number;
  /** LEADER_LEASE_MS: a holder silent for longer is ended by a follower (ms; default 15 s). */
  readonly leaseMs?: number;
  readonly onAcquire: () => void;
  readonly onRelease: () => Promise<void>;
}

export class LeaderLock {
  readonly #o: LeaderLockOptions;
  readonly #abort = new AbortController();
  #client: pg.Client | undefined;
  #holding = false;
  #leading = false;
  /** The lock connection has succeeded once: until then, a failure means the database is unreachable at start. */
  #reached = false;
  /** A writable server (not in recovery, not read-only) has answered once. */
  #reachedWritable = false;
  #loop: Promise<void> | undefined;

  constructor(options: LeaderLockOptions) {
    this.#o = options;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stop polling and release the lock (the feed itself is stopped by the caller first). */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      if (this.#holding) await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, this.#o.lockId]).catch(() => undefined);
      await client.end().catch(() => undefined);
    }
    this.#holding = false;
  }

  async #run(): Promise<void> {
    const { logger } = this.#o;
    const leaseMs = this.#o.leaseMs ?? DEFAULT_LEASE_MS;
    const pollMs = Math.min(this.#o.pollMs ?? 1_000, Math.floor(leaseMs / 3));
    const signal = this.#abort.signal;
    let lastTurn = Date.now();
    while (!signal.aborted) {
      const late = Date.now() - lastTurn - pollMs;
      lastTurn = Date.now();
      if (this.#holding && late > leaseMs) {
        // We were frozen past our lease: a follower has ended our lock session and runs the feed.
        logger.warn({ late_ms: late, lease_ms: leaseMs }, 'this replica stalled past its leader lease: stopping the feed and following');
        await this.#stepDown();
        continue;
      }
      try {
        const client = this.#client ?? (await this.#connect(pollMs));
        this.#reached = true;
        if (signal.aborted) break;
        // Advisory locks keep working on a standby, so after a failover the lock alone proves nothing:
        // a lock session on a server in recovery (or read-only) leads nothing. The same query is the
        // leader's heartbeat, which renews its lease (query_start).
        const ro = await client.query<{ ro: boolean }>(READ_ONLY_SQL);
        if (ro.rows[0]?.ro) {
          await this.#onReadOnlyServer();
        } else if (!this.#holding) {
          this.#reachedWritable = true;
          const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_NAMESPACE, this.#o.lockId]);
          if (r.rows[0]?.ok) {
            this.#holding = true;
            if (!this.#leading) {
              this.#leading = true;
              logger.info('acquired the feed lock: this replica runs the feed');
              this.#o.onAcquire();
            } else logger.info('lock connection back; still the leader');
          } else if (this.#leading) {
            logger.warn('another replica took the feed lock while ours was lost: stepping down');
            this.#leading = false;
            await this.#o.onRelease();
          } else await this.#endExpiredHolder(client, leaseMs);
        }
      } catch (err) {
        const stalled = Date.now() - lastTurn;
        if (this.#holding && stalled > leaseMs) {
          // Frozen while a heartbeat was in flight: it timed out once we ran again. As above, a
          // follower has taken over by now: stop at once rather than wait to find the lock taken.
          logger.warn({ late_ms: stalled, lease_ms: leaseMs }, 'this replica stalled past its leader lease: stopping the feed and following');
          await this.#stepDown();
          continue;
        }
        if (this.#holding || this.#client) {
          logger.warn({ err, leading: this.#leading }, 'lost the lock connection; the feed keeps running while it reconnects');
        } else if (!this.#reached && !this.#leading && !signal.aborted) {
          // The database is unreachable at start: nobody can tell which replica leads, and a feed
          // that waits loses what the upstream sends meanwhile. Run it (writes are idempotent) as
          // a leader that lost its lock would, and settle once the database answers.
          this.#leading = true;
          logger.warn({ err }, 'database unreachable at start: running the feed without its lock until the database answers');
          this.#o.onAcquire();
        }
        this.#holding = false;
        const client = this.#client;
        this.#client = undefined;
        client?.end().catch(() => undefined);
      }
      await delay(pollMs, signal);
    }
  }

  /**
   * The lock session sits on a standby or a read-only database: a lock there proves nothing, so it is
   * dropped (a new session is tried at the next turn, which a failover may route to the new primary).
   * The feed itself keeps running, as with a lost lock connection: the upstreams never replay, so a
   * stopped feed would lose events for good, while the writers hold them until a primary accepts
   * them. Once a writable server answers, the lock settles who leads (the other holds it: step down).
   * A replica that has never reached a writable server runs the feed as if the database were
   * unreachable at start.
   */
  async #onReadOnlyServer(): Promise<void> {
    const { logger } = this.#o;
    const held = this.#holding;
    this.#holding = false;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
    if (this.#leading) {
      if (held) logger.warn('the lock session sits on a database server in recovery or read-only (a failover?): dropped that lock; the feed keeps running until a writable server settles who leads');
    } else if (!this.#reachedWritable) {
      this.#leading = true;
      logger.warn('the database is in recovery or read-only at start: running the feed without its lock until a writable server answers');
      this.#o.onAcquire();
    }
  }

  /** Stop the feed and drop the lock session; the next turn polls as a follower. */
  async #stepDown(): Promise<void> {
    this.#leading = false;
    this.#holding = false;
    const client = this.#client;
    this.#client = undefined;
    await this.#o.onRelease();
    await client?.end().catch(() => undefined);
  }

  /** The holder's lock session has been idle past the lease: end it, so the lock is free at the next poll. */
  async #endExpiredHolder(client: pg.Client, leaseMs: number): Promise<void> {
    const r = await client.query<{ pid: number; idle_ms: number }>(
      `SELECT a.pid, (extract(epoch FROM clock_timestamp() - greatest(a.query_start, a.state_change)) * 1000)::float8 AS idle_ms
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 2`,
      [LOCK_NAMESPACE, this.#o.lockId],
    );
    const holder = r.rows[0];
    if (!holder || holder.idle_ms <= leaseMs) return;
    this.#o.logger.warn({ holder_pid: holder.pid, idle_ms: Math.round(holder.idle_ms), lease_ms: leaseMs }, "the feed's leader has not renewed its lease: ending its lock session to take over");
    await client.query('SELECT pg_terminate_backend($1)', [holder.pid]);
  }

  async #connect(pollMs: number): Promise<pg.Client> {
    const client = new pg.Client({
      ...pgConnection(this.#o.url, this.#o.password),
      connectionTimeoutMillis: Math.max(2_000, pollMs * 2),
      query_timeout: Math.max(2_000, pollMs * 2),
      keepAlive: true,
      application_name: `tributary-lock-${this.#o.feed}`,
    });
    // Without a listener, a dropped connection would be an unhandled 'error' and crash the process.
    client.on('error', (err) => this.#o.logger.debug({ err }, 'lock connection error'));
    await client.connect();
    // Let the server notice a vanished leader within ~11 s (defaults are two hours) and free its lock.
    await client.query('SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3');
    this.#client = client;
    return client;
  }
}
