import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import { createLogger, type Logger } from '../../src/logger.js';

/** One connection the test server accepted, with what happened to it. */
export interface ServerConnection {
  readonly ws: WebSocket;
  /** Date.now() when the server accepted it (read through the real clock, even when Date.now is mocked). */
  readonly at: number;
  /** The close code the server saw (1006: the peer dropped the TCP connection without a close frame). */
  closeCode?: number;
  pings: number;
}

export interface TestWsServer {
  readonly wss: WebSocketServer;
  readonly url: string;
  readonly connections: ServerConnection[];
  close(): Promise<void>;
}

const realNow = Date.now.bind(Date);

/**
 * A real `ws` server on 127.0.0.1, ephemeral port. `onConnection` runs for each accepted connection
 * with its 1-based index. close() terminates every client and closes the server.
 */
export async function startWsServer(
  onConnection: (ws: WebSocket, index: number) => void = () => {},
  options: Omit<ServerOptions, 'port' | 'host' | 'server' | 'noServer'> = {},
): Promise<TestWsServer> {
  const wss = new WebSocketServer({ ...options, port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const port = (wss.address() as { port: number }).port;
  const connections: ServerConnection[] = [];
  wss.on('connection', (ws) => {
    const c: ServerConnection = { ws, at: realNow(), pings: 0 };
    connections.push(c);
    ws.on('ping', () => c.pings++);
    ws.on('close', (code) => (c.closeCode = code));
    ws.on('error', () => {});
    onConnection(ws, connections.length);
  });
  return {
    wss,
    url: `ws://127.0.0.1:${port}`,
    connections,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

export interface RejectingServer {
  readonly url: string;
  /** Upgrade requests received so far. */
  readonly upgrades: IncomingMessage[];
  close(): Promise<void>;
}

/** A plain HTTP server that answers every WebSocket upgrade with `status` (and a short body) instead of 101. */
export async function startRejectingServer(status: number, reason = 'Unauthorized'): Promise<RejectingServer> {
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const upgrades: IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    upgrades.push(req);
    socket.on('error', () => {});
    const body = `${reason}\n`;
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    upgrades,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A pino logger whose lines are kept, parsed, for assertions (TEST_LOGS=1 also echoes them to stderr). */
export function captureLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      if (process.env.TEST_LOGS) process.stderr.write(chunk);
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}
