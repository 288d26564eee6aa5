import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FatalError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** A request must arrive whole (headers and body) within this (ms); default 15 s. */
  readonly requestTimeoutMs?: number;
  /** Readiness: status code and body for GET /readyz. */
  readonly readiness: () => Promise<{ ready: boolean; body: unknown }>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The operations server: GET /healthz, GET /readyz, GET /metrics, plus routes added by features
 * (a feed's webhook). Plain node:http: a handful of routes do not need a framework.
 */
export class HttpServer {
  readonly #o: HttpServerOptions;
  readonly #routes = new Map<string, RouteHandler>();
  #server: Server | undefined;

  constructor(options: HttpServerOptions) {
    this.#o = options;
    this.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    this.route('GET', '/readyz', async (_req, res) => {
      const r = await this.#o.readiness();
      sendJson(res, r.ready ? 200 : 503, r.body);
    });
    this.route('GET', '/metrics', async (_req, res) => {
      const text = await this.#o.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.#o.metrics.registry.contentType });
      res.end(text);
    });
  }

  route(method: string, path: string, handler: RouteHandler): void {
    this.#routes.set(`${method} ${path}`, handler);
  }

  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const requestTimeout = this.#o.requestTimeoutMs ?? 15_000;
    const server = createServer(
      {
        // Slow-loris protection: a request must arrive whole within requestTimeout. Node checks the
        // deadline only every connectionsCheckingInterval (default 30 s), so check often enough.
        requestTimeout,
        headersTimeout: Math.min(10_000, requestTimeout),
        connectionsCheckingInterval: Math.max(100, Math.min(1_000, requestTimeout / 4)),
      },
      (req, res) => void this.#handle(req, res),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new FatalError('HTTP_PORT_IN_USE', `HTTP_PORT ${this.#o.port} on ${this.#o.host} is already in use by another process; set HTTP_PORT to a free port`)
            : err,
        ),
      );
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#o.logger.info({ host: this.#o.host, port: this.port }, 'http server listening');
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = this.#routes.get(`${req.method} ${path}`);
    try {
      if (handler) await handler(req, res);
      else sendJson(res, 404, { error: 'not found' });
    } catch (err) {
      this.#o.logger.error({ err, path }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  }
}
