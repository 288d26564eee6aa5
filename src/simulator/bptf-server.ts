/**
 * A fake backpack.tf events socket (`wss://ws.backpack.tf/events`) on loopback.
 *
 * Speaks what the real server does today: text frames, each a JSON array of
 * `{id, event, payload}` events, no application-level handshake, no replay. It also lets a
 * test break the connection the ways production does: an abrupt restart (sockets dropped
 * without a close handshake), a stall (socket open, nothing sent, pings unanswered), and
 * malformed frames via `sendFrame`.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { BptfEvent } from './bptf-events.js';
import { RestartableServer, refuseUpgrade } from './restartable-server.js';
import { Waiters } from './waiters.js';

export type FakeBptfServerOptions = {
  /** TCP port; 0 (default) picks an ephemeral one, kept across restartAbruptly(). */
  port?: number;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /**
   * A client whose unsent backlog exceeds this many bytes misses frames (counted in
   * `droppedFrames`) instead of growing the server's memory; default 64 MiB.
   */
  maxBufferedBytes?: number;
};

/** Path the real service uses; other paths get a 404 like any unknown URL. */
const EVENTS_PATH = '/events';

export class FakeBptfServer {
  private readonly maxBufferedBytes: number;
  private readonly server: RestartableServer;
  private readonly clients = new Set<WebSocket>();
  private silent = false;
  private readonly waiters = new Waiters('FakeBptfServer');

  /** Connections accepted since construction (across restarts). */
  totalConnections = 0;
  /** Headers of the last accepted upgrade request (e.g. to check `batch-test: true`). */
  lastRequestHeaders: IncomingHttpHeaders | undefined;
  /** Close code of every client socket that ended, in order (1000 = graceful, 1006 = abrupt). */
  readonly closeCodes: number[] = [];
  /** Frames skipped because a client's send buffer was over `maxBufferedBytes`. */
  droppedFrames = 0;
  /** Protocol pings received from clients (answered or not). */
  pingsReceived = 0;
  /** Frames handed to clients (one per client per frame). */
  framesSent = 0;
  /** Called whenever a client socket ends, with its close code and reason. */
  onClientClose: ((code: number, reason: string) => void) | undefined;

  constructor(opts: FakeBptfServerOptions = {}) {
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.server = new RestartableServer(opts.host ?? '127.0.0.1', opts.port ?? 0, {
      wsOptions: {
        // Real frames exceed 1 MiB; compression is off as on the clients that hit zlib memory growth.
        perMessageDeflate: false,
        maxPayload: 256 * 1024 * 1024,
        // Pongs are sent by hand so silence() can withhold them from already-open sockets too.
        autoPong: false,
      },
      onUpgrade: (req, socket, accept) => {
        const path = new URL(req.url ?? '/', 'http://localhost').pathname;
        if (path !== EVENTS_PATH) return refuseUpgrade(socket, '404 Not Found');
        accept((ws) => this.attach(ws, req));
      },
      // terminate(): destroy the TCP socket, no close frame, as a crashing server would.
      onShutdown: () => {
        for (const ws of this.clients) ws.terminate();
      },
    });
  }

  /** Bound port (0 before start). */
  get port(): number {
    return this.server.port;
  }

  get url(): string {
    return `ws://${this.server.host}:${this.server.port}${EVENTS_PATH}`;
  }

  /** Currently open client sockets. */
  get connections(): number {
    let open = 0;
    for (const ws of this.clients) if (ws.readyState === ws.OPEN) open++;
    return open;
  }

  get silenced(): boolean {
    return this.silent;
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  async stop(): Promise<void> {
    await this.server.stop();
    this.waiters.notify();
  }

  /**
   * Models a server crash or redeploy: every socket is dropped without a close frame
   * (clients see 1006), then the server listens again on the same port.
   */
  async restartAbruptly(): Promise<void> {
    await this.server.restartAbruptly();
  }

  /**
   * While on, sockets stay open but nothing is sent and protocol pings go unanswered, the
   * "open but silent" stall that a client watchdog must detect. Applies to existing and new
   * sockets (pongs are sent by hand, see `attach`).
   */
  silence(on: boolean): void {
    this.silent = on;
  }

  /** Sends one frame, a JSON array of `events`, to every open client. False when silenced or nobody got it. */
  sendEvents(events: BptfEvent[]): boolean {
    return this.sendFrame(JSON.stringify(events));
  }

  /** Sends a raw frame (text unless `binary`) to every open client; for malformed, single-object or empty frames. */
  sendFrame(data: string | Buffer, opts: { binary?: boolean } = {}): boolean {
    if (this.silent) return false;
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    let sent = 0;
    for (const ws of this.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount + size > this.maxBufferedBytes) {
        this.droppedFrames++;
        continue;
      }
      ws.send(data, { binary: opts.binary ?? false });
      sent++;
    }
    this.framesSent += sent;
    return sent > 0;
  }

  /** Resolves once `totalConnections >= n`. */
  async waitForConnections(n: number, timeoutMs = 10_000): Promise<void> {
    await this.waiters.until(() => this.totalConnections >= n, timeoutMs, () => `${n} connections (have ${this.totalConnections})`);
  }

  /** Resolves once no client socket is open (e.g. after a client closed or was dropped). */
  async waitForNoConnections(timeoutMs = 10_000): Promise<void> {
    await this.waiters.until(() => this.connections === 0, timeoutMs, () => `0 open connections (have ${this.connections})`);
  }

  private attach(ws: WebSocket, req: IncomingMessage): void {
    this.clients.add(ws);
    this.totalConnections++;
    this.lastRequestHeaders = req.headers;
    ws.on('ping', (data: Buffer) => {
      this.pingsReceived++;
      if (!this.silent && ws.readyState === ws.OPEN) ws.pong(data);
      this.waiters.notify();
    });
    ws.on('error', () => {
      // A client reset shows up here; the close handler below does the bookkeeping.
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.clients.delete(ws);
      this.closeCodes.push(code);
      this.onClientClose?.(code, reason.toString());
      this.waiters.notify();
    });
    this.waiters.notify();
  }
}
