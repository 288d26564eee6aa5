/**
 * The lifecycle the three fake upstreams share: an HTTP server with a WebSocket server on it,
 * on a port kept across restarts, and an abrupt restart that drops every socket without a close
 * frame (clients see 1006), as a crashing or redeployed upstream does. Each fake server decides
 * what its upgrades and plain requests do; this owns only listening and stopping.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';

export interface RestartableServerHooks {
  /** Options of the WebSocket server (`noServer` is always set). */
  readonly wsOptions?: Omit<ServerOptions, 'noServer' | 'server' | 'port' | 'host'>;
  /** A plain HTTP request; default 426 Upgrade Required. */
  readonly onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  /** An upgrade request: call `accept` to complete it, or answer on `socket` to refuse it. */
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, accept: (onSocket: (ws: WebSocket) => void) => void) => void;
  /** After each listen (start and restart), e.g. to start a ping timer. */
  readonly onListening?: () => void;
  /** Before each shutdown: terminate() every client socket, clear timers. */
  readonly onShutdown: () => void;
}

export class RestartableServer {
  readonly #host: string;
  readonly #requestedPort: number;
  readonly #hooks: RestartableServerHooks;
  #boundPort = 0;
  #http: Server | undefined;
  #wss: WebSocketServer | undefined;

  constructor(host: string, port: number, hooks: RestartableServerHooks) {
    this.#host = host;
    this.#requestedPort = port;
    this.#hooks = hooks;
  }

  get host(): string {
    return this.#host;
  }

  /** Bound port (0 before start); the same after a restart. */
  get port(): number {
    return this.#boundPort;
  }

  async start(): Promise<void> {
    if (this.#http) return;
    await this.#listen(this.#boundPort || this.#requestedPort);
  }

  async stop(): Promise<void> {
    await this.#shutdown();
  }

  /** Drops every socket without a close frame, then listens again on the same port. */
  async restartAbruptly(): Promise<void> {
    await this.#shutdown();
    await this.#listen(this.#boundPort || this.#requestedPort);
  }

  async #listen(port: number): Promise<void> {
    const hooks = this.#hooks;
    const wss = new WebSocketServer({ ...hooks.wsOptions, noServer: true });
    const http = createServer(
      hooks.onRequest ??
        ((_req, res) => {
          res.writeHead(426, { 'content-type': 'text/plain' }).end('Upgrade Required');
        }),
    );
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      hooks.onUpgrade(req, socket, (onSocket) => wss.handleUpgrade(req, socket, head, onSocket));
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, this.#host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.#http = http;
    this.#wss = wss;
    this.#boundPort = (http.address() as AddressInfo).port;
    hooks.onListening?.();
  }

  async #shutdown(): Promise<void> {
    const http = this.#http;
    const wss = this.#wss;
    this.#http = undefined;
    this.#wss = undefined;
    this.#hooks.onShutdown();
    wss?.close();
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }
}

/** Refuses an upgrade with a plain HTTP status line and an optional JSON body, then closes. */
export function refuseUpgrade(socket: Duplex, status: string, body = ''): void {
  const type = body ? 'Content-Type: application/json\r\n' : '';
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n${type}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
