import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { describe, expect, it, vi } from 'vitest';
import { ReconnectingSocket, STABLE_AFTER_MS } from '../../src/core/transport/reconnecting-socket.js';
import { AuthError, UpstreamConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import type { ConnectionState, ReconnectingSocketOptions } from '../../src/core/transport/reconnecting-socket.js';
import { backoffDelay } from '../../src/util/backoff.js';
import { waitFor } from '../helpers/wait-for.js';
import { captureLogger, startRejectingServer, startWsServer } from '../helpers/ws-server.js';

describe('backoffDelay', () => {
  it('is full jitter under an exponential ceiling capped at the maximum', () => {
    expect(backoffDelay(0, 1000, 60_000, () => 0.999)).toBe(999);
    expect(backoffDelay(3, 1000, 60_000, () => 0.5)).toBe(4000);
    expect(backoffDelay(20, 1000, 60_000, () => 0.999)).toBe(59_940);
    expect(backoffDelay(5, 1000, 60_000, () => 0)).toBe(0);
  });
});

describe('ReconnectingSocket', () => {
  it('reconnects after the server closes, and an AbortSignal stops it with a close handshake', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as { port: number }).port;
    let connections = 0;
    const closeCodes: number[] = [];
    wss.on('connection', (ws) => {
      connections++;
      ws.on('close', (code) => closeCodes.push(code));
      if (connections === 1) ws.terminate();
    });
    const states: ConnectionState[] = [];
    const abort = new AbortController();
    const socket = new ReconnectingSocket({
      source: 'test',
      logger: createLogger('silent'),
      reconnect: { baseMs: 5, maxMs: 20 },
      prepare: async () => ({ url: `ws://127.0.0.1:${port}` }),
      createSession: () => ({ onOpen: (c) => c.ready(), onMessage: () => {} }),
      onState: (s) => states.push(s),
      signal: abort.signal,
    });
    socket.start();
    await waitFor(() => connections === 2 && states.at(-1) === 'connected', 'the second connection');
    expect(states).toContain('backoff');
    abort.abort();
    await waitFor(() => states.at(-1) === 'stopped', 'stopped');
    await waitFor(() => closeCodes.includes(1000), 'a close handshake with 1000');
    await new Promise((r) => wss.close(r));
  });
});

// ---------------------------------------------------------------------------------------------------
// Liveness, typed failures, upgrade rejection and the backoff reset. Every test runs a real `ws` server
// (or a plain HTTP server) on 127.0.0.1 with an ephemeral port.
// ---------------------------------------------------------------------------------------------------

type StateEntry = [ConnectionState, string | undefined];

/** The real clock, captured before any test mocks Date.now. */
const realNow = Date.now.bind(Date);

interface Harness {
  socket: ReconnectingSocket;
  states: StateEntry[];
  logs: Array<Record<string, unknown>>;
}

/** A ReconnectingSocket with recorded states and captured logs; `overrides` replace the defaults. */
function harness(url: string, overrides: Partial<ReconnectingSocketOptions> = {}): Harness {
  const states: StateEntry[] = [];
  const { logger, lines } = captureLogger();
  const socket = new ReconnectingSocket({
    source: 'test',
    logger,
    reconnect: { baseMs: 5, maxMs: 20 },
    prepare: async () => ({ url }),
    createSession: () => ({ onOpen: (c) => c.ready(), onMessage: () => {} }),
    onState: (state, error) => states.push([state, error]),
    ...overrides,
  });
  return { socket, states, logs: lines };
}

const stateNames = (states: StateEntry[]) => states.map(([s]) => s);
const logged = (logs: Array<Record<string, unknown>>, msg: string) => logs.filter((l) => l.msg === msg);
/** The `attempt` of every 'reconnecting after delay' line, in order. */
const attempts = (logs: Array<Record<string, unknown>>) => logged(logs, 'reconnecting after delay').map((l) => l.attempt);

/** Let `ms` pass: only where the assertion is that nothing happens meanwhile. */
const quietFor = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ReconnectingSocket liveness', () => {
  it('terminates a socket whose pings get no pong, then reconnects through backoff', async () => {
    // autoPong: false (ws >= 8.16): the server receives the client's pings but never answers them.
    const server = await startWsServer(() => {}, { autoPong: false });
    const { socket, states, logs } = harness(server.url, { pingIntervalMs: 50 });
    try {
      socket.start();
      await waitFor(() => server.connections.length >= 2, 'a second connection', 3000);
      const first = server.connections[0]!;
      await waitFor(() => first.closeCode !== undefined, 'the server to see the first connection close', 3000);
      expect(first.pings).toBeGreaterThanOrEqual(1);
      // Terminated (TCP dropped), not closed with a close frame.
      expect(first.closeCode).toBe(1006);
      expect(logged(logs, 'no pong to the last ping; terminating the socket').length).toBeGreaterThanOrEqual(1);
      expect(stateNames(states).slice(0, 4)).toEqual(['connecting', 'connected', 'backoff', 'connecting']);
    } finally {
      await socket.stop();
      await server.close();
    }
  });

  it('keeps a socket whose pings are answered', async () => {
    // Contrast to the test above: same server, but ws answers pings. The pong deadline is the next
    // ping, and server and client share this process's event loop: a stall of one interval on a busy
    // two-core machine would end the socket although the pong was sent. 500 ms between pings leaves
    // that room; three rounds (1.5 s) still show answered pings keeping the socket.
    const server = await startWsServer();
    const { socket, states, logs } = harness(server.url, { pingIntervalMs: 500 });
    try {
      socket.start();
      await waitFor(() => states.at(-1)?.[0] === 'connected', 'connected', 3000);
      await waitFor(() => server.connections[0]!.pings >= 3, 'three pings answered', 10_000);
      expect(server.connections).toHaveLength(1);
      expect(server.connections[0]!.closeCode).toBeUndefined();
      expect(logged(logs, 'no pong to the last ping; terminating the socket')).toHaveLength(0);
      expect(stateNames(states)).toEqual(['connecting', 'connected']);
    } finally {
      await socket.stop();
      await server.close();
    }
  });

  it('terminates an open socket that sends no data for stallMs, although pongs come back', async () => {
    const server = await startWsServer();
    // Pings at 500, 1000, 1500 ms get their pongs; the watchdog fires at 2000 ms all the same. The
    // pong deadline is the next ping: 500 ms between pings leaves a busy machine's stalled event loop
    // (server and client share it) room, so the end seen is the watchdog's, not a missed pong.
    const { socket, states, logs } = harness(server.url, { stallMs: 2000, pingIntervalMs: 500 });
    try {
      socket.start();
      await waitFor(() => server.connections.length >= 2, 'a second connection', 10_000);
      const first = server.connections[0]!;
      await waitFor(() => first.closeCode !== undefined, 'the server to see the first connection close', 3000);
      expect(first.closeCode).toBe(1006);
      expect(first.pings).toBeGreaterThanOrEqual(2);
      expect(logged(logs, 'no pong to the last ping; terminating the socket')).toHaveLength(0);
      expect(logged(logs, 'no data from upstream; dropping the socket').length).toBeGreaterThanOrEqual(1);
      expect(stateNames(states).slice(0, 3)).toEqual(['connecting', 'connected', 'backoff']);
    } finally {
      await socket.stop();
      await server.close();
    }
  });
});

describe('ReconnectingSocket typed failures', () => {
  // maxMs is far above what the jittered backoff draws for the first attempts with baseMs 5
  // (ceiling 10, 20, 40 ms), so "waited the maximum" and "reconnected soon" are far apart.
  const reconnect = { baseMs: 5, maxMs: 400 };
  const MAX_WAIT_FLOOR_MS = 350;
  const SOON_MS = 250;

  it('an AuthError passed to fail() sets auth_failed with its message and waits the maximum backoff', async () => {
    const server = await startWsServer((ws) => ws.send(JSON.stringify({ error: 'invalid api key' })));
    const { socket, states } = harness(server.url, {
      reconnect,
      createSession: () => ({
        onOpen: () => {},
        onMessage: (_data, _isBinary, control) => control.fail(new AuthError('AUTH_INVALID_API_KEY', 'the API key was refused')),
      }),
    });
    try {
      socket.start();
      await waitFor(() => server.connections.length >= 2, 'a second connection', 3000);
      const [c1, c2] = server.connections;
      expect(c2!.at - c1!.at).toBeGreaterThanOrEqual(MAX_WAIT_FLOOR_MS);
      // fail() closes with a close handshake.
      expect(c1!.closeCode).toBe(1000);
      const second = stateNames(states).indexOf('connecting', 1);
      expect(states.slice(0, second)).toEqual([
        ['connecting', undefined],
        ['auth_failed', 'the API key was refused'],
        ['auth_failed', undefined],
      ]);
    } finally {
      await socket.stop();
      await server.close();
    }
  });

  it('a plain fail() reason sets backoff and reconnects soon', async () => {
    const server = await startWsServer((ws) => ws.send(JSON.stringify({ notice: 'too many connections' })));
    const { socket, states } = harness(server.url, {
      reconnect,
      createSession: () => ({
        onOpen: () => {},
        onMessage: (_data, _isBinary, control) => control.fail('limit notice'),
      }),
    });
    try {
      socket.start();
      await waitFor(() => server.connections.length >= 2, 'a second connection', 3000);
      const [c1, c2] = server.connections;
      expect(c2!.at - c1!.at).toBeLessThan(SOON_MS);
      const second = stateNames(states).indexOf('connecting', 1);
      expect(states.slice(0, second)).toEqual([
        ['connecting', undefined],
        ['backoff', undefined],
      ]);
    } finally {
      await socket.stop();
      await server.close();
    }
  });

  it('prepare() throwing an AuthError sets auth_failed and waits the maximum before preparing again', async () => {
    const server = await startWsServer();
    const prepares: number[] = [];
    const { socket, states } = harness(server.url, {
      reconnect,
      prepare: async () => {
        prepares.push(realNow());
        if (prepares.length === 1) throw new AuthError('AUTH_LOGIN_FAILED', 'login refused');
        return { url: server.url };
      },
    });
    try {
      socket.start();
      await waitFor(() => states.at(-1)?.[0] === 'connected', 'connected after the second prepare', 3000);
      expect(prepares).toHaveLength(2);
      expect(prepares[1]! - prepares[0]!).toBeGreaterThanOrEqual(MAX_WAIT_FLOOR_MS);
      expect(server.connections).toHaveLength(1);
      expect(states).toEqual([
        ['connecting', undefined],
        ['auth_failed', 'login refused'],
        ['auth_failed', undefined],
        ['connecting', undefined],
        ['connected', undefined],
      ]);
    } finally {
      await socket.stop();
      await server.close();
    }
  });

  it('prepare() throwing a plain error sets backoff and prepares again soon', async () => {
    const server = await startWsServer();
    const prepares: number[] = [];
    const { socket, states } = harness(server.url, {
      reconnect,
      prepare: async () => {
        prepares.push(realNow());
        if (prepares.length === 1) throw new Error('login endpoint unreachable');
        return { url: server.url };
      },
    });
    try {
      socket.start();
      await waitFor(() => states.at(-1)?.[0] === 'connected', 'connected after the second prepare', 3000);
      expect(prepares[1]! - prepares[0]!).toBeLessThan(SOON_MS);
      expect(states.slice(0, 3)).toEqual([
        ['connecting', undefined],
        ['backoff', 'login endpoint unreachable'],
        ['backoff', undefined],
      ]);
    } finally {
      await socket.stop();
      await server.close();
    }
  });

  it('an UpstreamConfigError passed to fail() sets config_error and waits the maximum backoff', async () => {
    const server = await startWsServer();
    const { socket, states } = harness(server.url, {
      reconnect,
      createSession: () => ({
        onOpen: (control) => control.fail(new UpstreamConfigError('UPSTREAM_UNKNOWN_ROOM', 'room "nope" does not exist')),
        onMessage: () => {},
      }),
    });
    try {
      socket.start();
      await waitFor(() => server.connections.length >= 2, 'a second connection', 3000);
      const [c1, c2] = server.connections;
      expect(c2!.at - c1!.at).toBeGreaterThanOrEqual(MAX_WAIT_FLOOR_MS);
      const second = stateNames(states).indexOf('connecting', 1);
      expect(states.slice(0, second)).toEqual([
        ['connecting', undefined],
        ['config_error', 'room "nope" does not exist'],
        ['config_error', undefined],
      ]);
    } finally {
      await socket.stop();
      await server.close();
    }
  });

  it('degraded() after ready() sets config_error and keeps the socket open', async () => {
    const server = await startWsServer();
    const received: string[] = [];
    const { socket, states } = harness(server.url, {
      reconnect,
      createSession: () => ({
        onOpen: (control) => {
          control.ready();
          control.degraded(new UpstreamConfigError('UPSTREAM_UNKNOWN_ROOM', 'room "nope" does not exist'));
        },
        onMessage: (data) => received.push(data.toString('utf8')),
      }),
    });
    try {
      socket.start();
      await waitFor(() => states.at(-1)?.[0] === 'config_error', 'config_error', 3000);
      expect(states).toEqual([
        ['connecting', undefined],
        ['connected', undefined],
        ['config_error', 'room "nope" does not exist'],
      ]);
      // Still delivering data ...
      server.connections[0]!.ws.send('still here');
      await waitFor(() => received.includes('still here'), 'a frame after degraded()', 3000);
      // ... and no reconnect.
      await quietFor(300);
      expect(server.connections).toHaveLength(1);
      expect(server.connections[0]!.closeCode).toBeUndefined();
      expect(states).toHaveLength(3);
    } finally {
      await socket.stop();
      await server.close();
    }
  });
});

describe('ReconnectingSocket upgrade rejection', () => {
  it('reports a 401 answer to the upgrade, backs off and tries again', async () => {
    const server = await startRejectingServer(401, 'Unauthorized');
    const rejected: number[] = [];
    const { socket, states, logs } = harness(server.url, {
      prepare: async () => ({ url: server.url, headers: { cookie: 'session=expired' } }),
      onUpgradeRejected: (status) => rejected.push(status),
    });
    try {
      socket.start();
      await waitFor(() => rejected.length >= 2 && server.upgrades.length >= 2, 'a second rejected upgrade', 3000);
      expect(new Set(rejected)).toEqual(new Set([401]));
      expect(server.upgrades[0]!.headers.upgrade).toBe('websocket');
      expect(server.upgrades[0]!.headers.cookie).toBe('session=expired');
      expect(stateNames(states).slice(0, 3)).toEqual(['connecting', 'backoff', 'connecting']);
      expect(stateNames(states)).not.toContain('connected');
      expect(logged(logs, 'upgrade rejected by upstream')[0]).toMatchObject({ status: 401 });
    } finally {
      await socket.stop();
      await server.close();
    }
  });
});

describe('ReconnectingSocket backoff reset', () => {
  // STABLE_AFTER_MS is 10 s and the class has no injectable clock, but it measures uptime with
  // Date.now() at 'open' and at 'close'. Moving Date.now forward by more than STABLE_AFTER_MS while a
  // connection is up makes that connection look stable when it closes. The clock only moves forward,
  // and only between waitFor calls (waitFor's own deadline reads Date.now).
  it('starts the attempt count over after a connection that stayed up STABLE_AFTER_MS', async () => {
    let offset = 0;
    const now = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    // Connection 4 is kept open; every other one the server drops at once.
    const server = await startWsServer((ws, index) => {
      if (index !== 4) ws.terminate();
    });
    const { socket, states, logs } = harness(server.url, { reconnect: { baseMs: 5, maxMs: 100 } });
    try {
      socket.start();
      await waitFor(() => server.connections.length === 4 && states.at(-1)?.[0] === 'connected', 'the fourth connection up', 3000);
      expect(attempts(logs)).toEqual([1, 2, 3]);
      offset = STABLE_AFTER_MS + 1000;
      server.connections[3]!.ws.terminate();
      await waitFor(() => attempts(logs).length >= 5, 'two more reconnects', 3000);
      expect(attempts(logs).slice(0, 5)).toEqual([1, 2, 3, 0, 1]);
      const closes = logged(logs, 'socket closed');
      expect(closes.some((l) => (l.up_ms as number) >= STABLE_AFTER_MS)).toBe(true);
    } finally {
      await socket.stop();
      await server.close();
      now.mockRestore();
    }
  });

  // A connection up for hours that then dies of a missed pong (how silent network drops are found)
  // was once counted as a failure, so the count never reset and every reconnect drifted to maxMs.
  it('starts the attempt count over after a stable connection that a missed pong ended', async () => {
    let offset = 0;
    const now = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    // Pongs are never sent; connection 2 is kept open until the client's pong timeout ends it.
    const server = await startWsServer(
      (ws, index) => {
        if (index !== 2) ws.terminate();
      },
      { autoPong: false },
    );
    const { socket, states, logs } = harness(server.url, { reconnect: { baseMs: 5, maxMs: 100 }, pingIntervalMs: 300 });
    try {
      socket.start();
      await waitFor(() => server.connections.length === 2 && states.at(-1)?.[0] === 'connected', 'the second connection up', 3000);
      offset = STABLE_AFTER_MS + 1000;
      await waitFor(() => attempts(logs).length >= 2, 'the reconnect after the missed pong', 3000);
      expect(logged(logs, 'no pong to the last ping; terminating the socket').length).toBeGreaterThanOrEqual(1);
      expect(attempts(logs).slice(0, 2)).toEqual([1, 0]);
    } finally {
      await socket.stop();
      await server.close();
      now.mockRestore();
    }
  });

  it('keeps counting after a long connection that the session failed', async () => {
    let offset = 0;
    const now = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    // Connection 2 is kept open until the session fails it; every other one the server drops at once.
    const server = await startWsServer((ws, index) => {
      if (index !== 2) ws.terminate();
    });
    const { socket, states, logs } = harness(server.url, {
      reconnect: { baseMs: 5, maxMs: 100 },
      createSession: () => ({
        onOpen: (c) => c.ready(),
        onMessage: (_data, _isBinary, c) => c.fail('limit notice'),
      }),
    });
    try {
      socket.start();
      await waitFor(() => server.connections.length === 2 && states.at(-1)?.[0] === 'connected', 'the second connection up', 3000);
      offset = STABLE_AFTER_MS + 1000;
      server.connections[1]!.ws.send('limit notice');
      await waitFor(() => attempts(logs).length >= 3, 'three reconnects', 3000);
      expect(attempts(logs).slice(0, 3)).toEqual([1, 2, 3]);
    } finally {
      await socket.stop();
      await server.close();
      now.mockRestore();
    }
  });
});

describe('ReconnectingSocket logs', () => {
  it('an upstream refusing every reconnect: the first socket error with its stack, the next ones without', async () => {
    // A port nothing listens on: every attempt fails with ECONNREFUSED.
    const probe = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => probe.once('listening', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const { socket, logs } = harness(`ws://127.0.0.1:${port}`);
    try {
      socket.start();
      await waitFor(() => logged(logs, 'socket error').length >= 4, 'four socket errors', 5_000);
      const errors = logged(logs, 'socket error');
      expect((errors[0]?.err as { stack?: string } | undefined)?.stack).toMatch(/ECONNREFUSED/);
      for (const line of errors.slice(1)) {
        expect(line.err).toBeUndefined();
        expect(line.code).toBe('ECONNREFUSED');
      }
      expect(errors.at(-1)?.in_a_row).toBe(errors.length);
    } finally {
      await socket.stop();
    }
  });
});

describe('ReconnectingSocket shutdown', () => {
  /**
   * A server that never answers the client's close frame and goes on sending a text frame every
   * 100 ms for 700 ms after it: as a daemon sees a server whose frames, sent before the close, it
   * reads late. Frames are written on the raw socket (ws would stop sending once closing).
   */
  async function lingeringServer(): Promise<{ url: string; close: () => Promise<void> }> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => {
      const raw = (ws as unknown as { _socket: Socket })._socket;
      // Take the socket from ws: the client's close frame is never answered.
      raw.removeAllListeners('data');
      let sent = 0;
      raw.once('data', () => {
        const timer = setInterval(() => {
          const text = Buffer.from(`m${sent++}`);
          if (sent > 7 || raw.destroyed) clearInterval(timer);
          else raw.write(Buffer.concat([Buffer.from([0x81, text.length]), text]));
        }, 100);
      });
    });
    return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, close: () => new Promise((r) => wss.close(() => r())) };
  }

  /**
   * A server that writes m0 on each connection, then m1-m4 20 ms later, and answers the client's
   * close frame at once: the answer follows m1-m4 on the wire.
   */
  async function lateFramesServer() {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const frame = (text: string) => Buffer.concat([Buffer.from([0x81, text.length]), Buffer.from(text)]);
    const server = { connections: 0, url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, close: () => new Promise<void>((r) => wss.close(() => r())) };
    wss.on('connection', (ws) => {
      server.connections++;
      const raw = (ws as unknown as { _socket: Socket })._socket;
      raw.removeAllListeners('data');
      raw.write(frame('m0'));
      setTimeout(() => raw.write(Buffer.concat(['m1', 'm2', 'm3', 'm4'].map(frame))), 20);
      raw.once('data', () => raw.write(Buffer.from([0x88, 0x02, 0x03, 0xe8])));
    });
    return server;
  }

  /** Keep the event loop busy for `ms`. */
  const busy = (ms: number) => {
    const until = realNow() + ms;
    while (realNow() < until);
  };

  it('reads the frames that arrived while its event loop was busy past closeTimeoutMs before it gives up', async () => {
    const server = await lateFramesServer();
    const received: string[] = [];
    let stopping: Promise<void> | undefined;
    const { socket, states } = harness(server.url, {
      closeTimeoutMs: 300,
      createSession: () => ({
        onOpen: (c) => c.ready(),
        onMessage: (b) => {
          received.push(b.toString());
          if (received.length > 1) return;
          // m1-m4 arrive during this, then the close starts, then the loop stays busy past closeTimeoutMs.
          busy(60);
          stopping = socket.stop();
          busy(450);
        },
      }),
    });
    try {
      socket.start();
      await waitFor(() => stopping !== undefined, 'the first frame handled');
      await stopping;
      expect(received).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      expect(stateNames(states).at(-1)).toBe('stopped');
    } finally {
      await server.close();
    }
  });

  it('a failed session reads the frames that arrived while its event loop was busy past closeTimeoutMs before it reconnects', async () => {
    // As above, with the session failing on m0 (a reconnect) instead of a stop.
    const server = await lateFramesServer();
    const received: string[] = [];
    const { socket } = harness(server.url, {
      closeTimeoutMs: 300,
      createSession: () => ({
        onOpen: (c) => c.ready(),
        onMessage: (b, _binary, c) => {
          received.push(b.toString());
          if (received.length > 1) return;
          busy(60);
          c.fail('test: the session failed');
          busy(450);
        },
      }),
    });
    try {
      socket.start();
      await waitFor(() => received.length >= 5 || server.connections > 1, 'the frames of the first connection, or a reconnect');
      expect(received.slice(0, 5)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    } finally {
      await socket.stop();
      await server.close();
    }
  });

  it('keeps reading while frames come after its close frame, past closeTimeoutMs, and terminates within twice it', async () => {
    const server = await lingeringServer();
    const received: Array<{ text: string; at: number }> = [];
    const { socket, states } = harness(server.url, {
      closeTimeoutMs: 300,
      createSession: () => ({ onOpen: (c) => c.ready(), onMessage: (b) => void received.push({ text: b.toString(), at: realNow() }) }),
    });
    try {
      socket.start();
      await waitFor(() => states.at(-1)?.[0] === 'connected', 'connected');
      const closingAt = realNow();
      await socket.stop();
      const stoppedAfter = realNow() - closingAt;
      // Frames kept coming every 100 ms, so the wait went on past 300 ms: the frames at 400 ms and
      // later were read (the 7th frame would be at 700 ms, beyond twice the timeout).
      expect(received.some((m) => m.at - closingAt > 350), JSON.stringify(received.map((m) => m.at - closingAt))).toBe(true);
      expect(received.length).toBeLessThan(7);
      // Twice the timeout in all, whatever keeps coming (slack for a busy machine's timers).
      expect(stoppedAfter).toBeGreaterThanOrEqual(550);
      expect(stoppedAfter).toBeLessThan(1_500);
    } finally {
      await server.close();
    }
  });
});
