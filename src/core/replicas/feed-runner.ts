import type { ReplicaMode } from '../../config.js';
import type { Connector } from '../feed.js';
import type { Logger } from '../../logger.js';
import type { PasswordSource } from '../db/password-file.js';
import type { SourceStatus } from '../status/source-status.js';
import { LeaderLock } from './leader-lock.js';

/**
 * Runs one feed according to its replica mode: `all` (every replica, hot-hot: idempotent writes keep
 * the tables as with one replica) or `one` (only the replica holding the feed's advisory lock). A
 * connector cannot be restarted once stopped, so each leadership term gets a new one from `create`.
 */
export class FeedRunner {
  #connector: Connector | undefined;
  #lock: LeaderLock | undefined;
  #stopping = false;

  constructor(
    private readonly opts: {
      readonly source: string;
      /** Second key of the feed's advisory lock. */
      readonly lockId: number;
      readonly mode: ReplicaMode;
      /** The lock needs a real server session; on the embedded database there is one process anyway. */
      readonly lockUrl: string | undefined;
      /** The lock session's password source (DATABASE_PASSWORD_FILE); undefined: the URL's password. */
      readonly lockPassword?: PasswordSource;
      readonly create: () => Connector;
      readonly status: SourceStatus;
      readonly logger: Logger;
      readonly pollMs?: number;
      /** LEADER_LEASE_MS (ms). */
      readonly leaseMs?: number;
    },
  ) {}

  get source(): string {
    return this.opts.source;
  }

  start(): void {
    const { mode, lockUrl, source, logger, status } = this.opts;
    if (mode === 'all' || !lockUrl) {
      this.#run();
      return;
    }
    status.setLeader(false);
    this.#lock = new LeaderLock({
      url: lockUrl,
      password: this.opts.lockPassword,
      feed: source,
      lockId: this.opts.lockId,
      logger: logger.child({ component: 'leader-lock' }),
      pollMs: this.opts.pollMs,
      leaseMs: this.opts.leaseMs,
      onAcquire: () => this.#run(),
      onRelease: async () => {
        await this.#connector?.stop();
        this.#connector = undefined;
        status.setLeader(false);
      },
    });
    this.#lock.start();
  }

  /** Stop the feed first, then release the lock, so no new term can begin meanwhile. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#connector?.stop();
    this.#connector = undefined;
    await this.#lock?.stop();
  }

  #run(): void {
    if (this.#stopping) return;
    this.opts.status.setLeader(true);
    this.#connector = this.opts.create();
    this.#connector.start();
  }
}
