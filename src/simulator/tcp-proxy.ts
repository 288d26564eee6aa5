import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between the daemon and Postgres, to cut the database without stopping it.
 * - cut(): destroy every connection and refuse new ones (connection refused / reset mid-write).
 * - hang(): keep connections open but forward nothing (a write that hangs).
 * - restore(): forward again.
 * - retarget(port): new connections go to another server (a failover behind a proxy or a virtual IP).
 */
export class TcpProxy {
  #server: Server | undefined;
  #pairs = new Set<[Socket, Socket]>();
  #mode: 'up' | 'cut' | 'hang' = 'up';

  #target: { host: string; port: number };

  constructor(target: { host: string; port: number }) {
    this.#target = { ...target };
  }

  static forUrl(url: string): TcpProxy {
    const u = new URL(url);
    return new TcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  }

  /** The same URL, pointed at the proxy. */
  rewrite(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  get port(): number {
    const a = this.#server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async start(): Promise<void> {
    this.#server = createServer((client) => {
      if (this.#mode === 'cut') {
        client.destroy();
        return;
      }
      const upstream = connect(this.#target.port, this.#target.host);
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk) => {
          if (this.#mode === 'up') to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.#pairs.delete(pair);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
  }

  cut(): void {
    this.#mode = 'cut';
    this.#destroyPairs();
  }

  hang(): void {
    this.#mode = 'hang';
  }

  restore(): void {
    // Bytes swallowed while hanging left those streams corrupt: end them, as a real network reset would.
    if (this.#mode === 'hang') this.cut();
    this.#mode = 'up';
  }

  /**
   * New connections go to `port` (same host) from now on. The existing pairs are destroyed (their
   * clients see a reset and reconnect, to `port`), unless `keepOpen`: then they stay on the old
   * server, as the connections a pool holds do when a failover redirects only new ones (DNS, a virtual IP).
   */
  retarget(port: number, opts: { keepOpen?: boolean } = {}): void {
    this.#target = { ...this.#target, port };
    if (!opts.keepOpen) this.#destroyPairs();
  }

  #destroyPairs(): void {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((r) => this.#server?.close(r));
  }
}
