import { WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { ReconnectingSocket } from '../../src/core/transport/reconnecting-socket.js';
import { createLogger } from '../../src/logger.js';
import type { ConnectionState } from '../../src/core/status/source-status.js';
import { backoffDelay } from '../../src/util/backoff.js';
import { waitFor } from '../helpers/wait-for.js';

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
