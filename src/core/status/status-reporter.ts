import type { Kysely } from 'kysely';
import type { CoreDatabase } from '../db/schema.js';
import type { Logger } from '../../logger.js';
import { deleteStaleStatus, upsertStatus } from './ingest-status-store.js';
import type { SourceStatus } from './source-status.js';

/** How often ingest_status is refreshed (ms). */
export const STATUS_INTERVAL_MS = 5_000;
/** Rows of instances silent for this long (days) are removed: stopped replicas, old installations. */
const STALE_STATUS_DAYS = 7;
/** How often they are looked for (ms). */
const STALE_CHECK_MS = 60 * 60_000;

/**
 * Persists every source's status to ingest_status on an interval, and once more on stop; removes, at
 * start and hourly, the rows of instances that wrote none for STALE_STATUS_DAYS.
 */
export class StatusReporter {
  #timer: NodeJS.Timeout | undefined;
  #staleTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<CoreDatabase>,
    private readonly statuses: () => readonly SourceStatus[],
    private readonly instance: string,
    private readonly logger: Logger,
    private readonly intervalMs = STATUS_INTERVAL_MS,
  ) {}

  start(): void {
    if (this.#timer) return;
    void this.flush();
    this.#timer = setInterval(() => void this.flush(), this.intervalMs);
    this.#timer.unref();
    const prune = () =>
      deleteStaleStatus(this.db, STALE_STATUS_DAYS).then(
        (n) => n > 0 && this.logger.info({ rows: n, days: STALE_STATUS_DAYS }, 'removed ingest_status rows of instances silent for days'),
        (err: unknown) => this.logger.debug({ err }, 'could not remove old ingest_status rows'),
      );
    void prune();
    this.#staleTimer = setInterval(() => void prune(), STALE_CHECK_MS);
    this.#staleTimer.unref();
  }

  /** Write the current status now. Failures are logged at debug: the database may be down, and the writer already says so. */
  async flush(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = upsertStatus(
      this.db,
      this.statuses().map((s) => s.toRow(this.instance)),
    )
      .catch((err: unknown) => this.logger.debug({ err }, 'ingest_status refresh failed'))
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#staleTimer);
    this.#staleTimer = undefined;
    await this.#running;
    await this.flush();
  }
}
