import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpServer } from '../../src/core/http/server.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';

describe('HttpServer', () => {
  it('cuts a request whose headers arrive too slowly soon after requestTimeoutMs (Node checks only every 30 s by default)', async () => {
    const http = new HttpServer({
      host: '127.0.0.1',
      port: 0,
      requestTimeoutMs: 1_000,
      logger: createLogger('silent'),
      metrics: createMetrics(),
      readiness: async () => ({ ready: true, body: {} }),
    });
    await http.start();
    try {
      const socket = connect(http.port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      const t0 = Date.now();
      socket.resume(); // read (and drop) the 408, so the close is seen
      socket.write('POST /webhooks/tradepost HTTP/1.1\r\nHost: x\r\n'); // and never the rest
      await new Promise((r) => socket.once('close', r));
      const ms = Date.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(900);
      // Cut by the server's own check (every 250 ms here), not Node's 30 s one. 5 s: five times the
      // timeout, room for a busy two-core machine, and still a sixth of what the default would take.
      expect(ms).toBeLessThan(5_000);
    } finally {
      await http.stop();
    }
  });
});
