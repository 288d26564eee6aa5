import type { Metrics } from '../../metrics.js';
import { redactSecrets } from '../../util/redact.js';
import { CONNECTION_STATES, type ConnectionState } from '../transport/reconnecting-socket.js';
import type { GapTracker } from './gap-tracker.js';
import type { StatusRow } from './ingest-status-store.js';

/** What set last_error, so that it clears when that cause is gone. */
export type ErrorCause = 'connection' | 'write' | 'refusing' | 'drop';

/**
 * In-memory status of one source on this replica: what `ingest_status`, `/readyz` and the
 * connection-state metrics show. Connectors and writers update it; the StatusReporter persists it.
 */
export class SourceStatus {
  state: ConnectionState = 'stopped';
  isLeader = false;
  connectedSince: Date | null = null;
  lastMessageAt: Date | null = null;
  lastEventAt: Date | null = null;
  eventsReceived = 0;
  eventsWritten = 0;
  /** Events written from a spool an earlier run left: received then, so counted neither here nor as written. */
  eventsReplayed = 0;
  reconnects = 0;
  lastError: string | null = null;
  /** When last_error was set; null with it. */
  lastErrorAt: Date | null = null;
  #errorCause: ErrorCause | null = null;
  /** While the database refuses this source's writes: why (SQLSTATE and message); else null. */
  dbRefusing: string | null = null;
  /** Commit time minus event time of the last event written (ms); null before the first. */
  lastLagMs: number | null = null;
  /** Told of leadership, of every socket frame and of every working connection that ends (ingest_gaps). */
  gaps: Pick<GapTracker, 'leading' | 'standby' | 'frame' | 'interrupted'> | undefined;

  constructor(
    readonly source: string,
    private readonly metrics: Metrics,
  ) {
    this.setState('stopped');
  }

  /**
   * `error` may come from anywhere (an upstream's answer, a URL in a socket error): it is redacted
   * here, once, before ingest_status, ingest_gaps, /status.json or the status page can show it.
   */
  setState(state: ConnectionState, error?: string): void {
    const why = error === undefined ? undefined : lastErrorText(error);
    // A deliberate stop (shutdown, leadership handed over) is not an interruption this replica records:
    // whoever leads next starts its gap from the last frame in ingest_status, so it is one gap.
    if (this.state === 'connected' && state !== 'connected' && state !== 'stopped') this.gaps?.interrupted(why ?? state);
    this.state = state;
    if (state === 'connected') this.connectedSince = new Date();
    else this.connectedSince = null;
    if (why !== undefined) this.#setError(why, 'connection');
    else if (state === 'connected') this.clearError('connection'); // its cause is gone
    for (const s of CONNECTION_STATES) this.metrics.connectionState.set({ source: this.source, state: s }, s === state ? 1 : 0);
  }

  /**
   * The state ingest_status, /readyz and the status page show: `db_refusing` while the database
   * refuses this source's writes (the socket may be fine: events are held), else the connection's.
   */
  get reportedState(): string {
    return this.dbRefusing !== null ? 'db_refusing' : this.state;
  }

  /** The database refuses this source's writes (a message), or accepts them again (null). */
  setRefusing(message: string | null): void {
    this.dbRefusing = message;
    if (message !== null) this.#setError(lastErrorText(message), 'refusing');
    else this.clearError('refusing');
  }

  /**
   * The latest error that is not a connection state change: ingest_status.last_error. `cause` says
   * what ends it (clearError): a connection error ends when the socket connects, a failing write
   * when writes recover; events dropped are a fact that stays until a newer error.
   */
  noteError(message: string, cause: ErrorCause = 'drop'): void {
    this.#setError(lastErrorText(message), cause);
  }

  /** The cause of last_error is gone: clear it (and its time), unless a newer error of another cause replaced it. */
  clearError(cause: ErrorCause): void {
    if (this.#errorCause !== cause) return;
    this.lastError = null;
    this.lastErrorAt = null;
    this.#errorCause = null;
  }

  #setError(text: string, cause: ErrorCause): void {
    this.lastError = text;
    this.lastErrorAt = new Date();
    this.#errorCause = cause;
  }

  setLeader(leader: boolean): void {
    if (leader) this.gaps?.leading();
    else this.gaps?.standby();
    this.isLeader = leader;
    this.metrics.leader.set({ source: this.source }, leader ? 1 : 0);
  }

  /** A frame arrived: on the feed's socket, or by another path (a webhook), which does not end a gap. */
  messageReceived(via: 'socket' | 'other' = 'socket'): void {
    this.lastMessageAt = new Date();
    if (via === 'socket') this.gaps?.frame(this.lastMessageAt.getTime());
  }

  eventsParsed(n: number): void {
    if (n === 0) return;
    this.eventsReceived += n;
    this.lastEventAt = new Date();
    this.metrics.eventsReceived.inc({ source: this.source }, n);
  }

  written(n: number): void {
    this.eventsWritten += n;
    this.metrics.eventsWritten.inc({ source: this.source }, n);
  }

  replayed(n: number): void {
    if (n === 0) return;
    this.eventsReplayed += n;
    this.metrics.eventsReplayed.inc({ source: this.source }, n);
  }

  reconnecting(): void {
    this.reconnects++;
    this.metrics.reconnects.inc({ source: this.source });
  }

  toRow(instance: string): StatusRow {
    return {
      source: this.source,
      instance,
      state: this.reportedState,
      isLeader: this.isLeader,
      connectedSince: this.connectedSince,
      lastMessageAt: this.lastMessageAt,
      lastEventAt: this.lastEventAt,
      eventsReceived: this.eventsReceived,
      eventsWritten: this.eventsWritten,
      eventsReplayed: this.eventsReplayed,
      reconnects: this.reconnects,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
    };
  }
}

/** Longest last_error kept (characters). Redacted before it is cut, so a cut never splits a credential out of its rule. */
const LAST_ERROR_MAX = 500;

function lastErrorText(message: string): string {
  return redactSecrets(message).slice(0, LAST_ERROR_MAX);
}
