import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/** Request codes of the untyped messages a client may send before its startup message (the wire protocol's). */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Message types after which a connection's conversation may be at a boundary: Sync, Query, CopyDone, CopyFail. */
const BOUNDARY_TYPES = new Set([0x53, 0x51, 0x63, 0x66]);
const TERMINATE = 0x58;
const QUERY = 0x51;
const NOTIFICATION_RESPONSE = 0x41;
/** Larger messages are not the wire protocol (bytes; a batch of the daemon is a few MB). */
const MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;

interface Connection {
  readonly socket: Socket;
  /** Received bytes not yet cut into messages, as received (joined once a message is complete). */
  chunks: Buffer[];
  bytes: number;
  /** Complete messages waiting for their turn. */
  messages: Buffer[];
  /** The startup message has been received: messages are typed from then on. */
  started: boolean;
  closed: boolean;
  /** Channels this connection has LISTENed to (see #forward). */
  readonly listens: Set<string>;
  /** The daemon's own (its startup names an application_name starting with `tributary`): its statements are not timed. */
  own: boolean;
  /** Since when it holds the database waiting for its next message (ms since epoch); undefined while not. */
  heldSince: number | undefined;
}

/**
 * Told when PGlite starts and ends running another connection's messages (psql, a dashboard): a
 * statement that runs blocks this process's event loop, so what ends one that runs too long lives
 * outside it (embedded.ts). `started` resolves once the watcher has been told.
 */
export interface ForeignStatementWatch {
  started(): Promise<void>;
  ended(): void;
  /**
   * Longest another connection may hold the database between its messages (ms): inside its
   * transaction or an unfinished extended-protocol sequence, every other connection waits on it.
   */
  readonly holdTimeoutMs: number;
}

/**
 * Serves PGlite on a TCP port with the Postgres wire protocol, for `pg` and `psql`. PGlite is a single
 * session, so connections take turns: a connection keeps the database from its first message until
 * PGlite answers it ReadyForQuery with status idle at the end of what it sent, so that another's
 * statements never land inside its transaction or its unfinished extended-protocol sequence. One that
 * disconnects while holding it has its sequence ended and its transaction rolled back.
 *
 * In place of pglite-socket's server, which joins its buffer with every chunk received: a 1 000-event
 * batch (2-3 MB, some 40 chunks of 64 KiB) was copied about 40 times over, a third of this process's
 * CPU. Here the chunks of a message are joined once it is complete, and a connection's waiting
 * messages go to PGlite in one call.
 */
export class WireServer {
  readonly #db: PGlite;
  readonly #maxConnections: number;
  readonly #server: Server;
  /** In the order they are served next (a connection served goes to the back). */
  readonly #connections = new Set<Connection>();
  /** The connection PGlite is busy with or held for (see above). */
  #owner: Connection | undefined;
  #pumping = false;
  /** Ends the hold of another connection that keeps the database between messages for too long (see ForeignStatementWatch). */
  #holdTimer: NodeJS.Timeout | undefined;

  readonly #watch: ForeignStatementWatch | undefined;

  constructor(db: PGlite, maxConnections: number, watch?: ForeignStatementWatch) {
    this.#db = db;
    this.#maxConnections = maxConnections;
    this.#watch = watch;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as { port: number }).port);
      });
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.#holdTimer);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const c of this.#connections) c.socket.destroy();
    await closed;
    while (this.#pumping) await new Promise((r) => setImmediate(r));
  }

  #accept(socket: Socket): void {
    if ([...this.#connections].filter((c) => !c.closed).length >= this.#maxConnections) {
      socket.end(errorResponse('53300', 'too many connections to the embedded database'));
      return;
    }
    const c: Connection = { socket, chunks: [], bytes: 0, messages: [], started: false, closed: false, listens: new Set(), own: false, heldSince: undefined };
    this.#connections.add(c);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(c, chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#drop(c));
  }

  #receive(c: Connection, chunk: Buffer): void {
    c.chunks.push(chunk);
    c.bytes += chunk.length;
    for (;;) {
      // Typed: 1 type byte + int32 length (counting itself). Before the startup message: int32 length + int32 code.
      const head = c.started ? 5 : 8;
      if (c.bytes < head) break;
      if ((c.chunks[0] as Buffer).length < head) c.chunks = [Buffer.concat(c.chunks)];
      const first = c.chunks[0] as Buffer;
      const length = c.started ? 1 + first.readInt32BE(1) : first.readInt32BE(0);
      if (length < head || length > MAX_MESSAGE_BYTES) {
        c.socket.destroy();
        return;
      }
      if (c.bytes < length) break;
      const all = c.chunks.length === 1 ? first : Buffer.concat(c.chunks);
      const message = all.subarray(0, length);
      c.chunks = all.length > length ? [all.subarray(length)] : [];
      c.bytes -= length;
      if (c.started) {
        // Terminate: PGlite would end its only session; the connection closes instead.
        if (message[0] === TERMINATE) {
          c.socket.end();
          return;
        }
        if (message[0] === QUERY) trackListens(c.listens, message.toString('utf8', 5, message.length - 1));
        c.messages.push(message);
        continue;
      }
      const code = message.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        c.socket.write('N'); // no encryption: loopback only
      } else if (code === CANCEL_REQUEST) {
        c.socket.end(); // a statement of a single-threaded database cannot be interrupted
        return;
      } else {
        c.started = true;
        c.own = startupParameter(message, 'application_name')?.startsWith('tributary') ?? false;
        c.messages.push(message);
      }
    }
    this.#pump();
  }

  #endHold(c: Connection): void {
    if (this.#owner !== c || c.messages.length > 0 || c.closed) return;
    const ms = this.#watch?.holdTimeoutMs;
    c.socket.end(errorResponse('25P03', `terminating connection: idle in a transaction for ${ms} ms (EMBEDDED_QUERY_TIMEOUT_MS), holding the embedded database`), () =>
      c.socket.destroy(),
    );
  }

  #drop(c: Connection): void {
    c.closed = true;
    c.messages = [];
    this.#pump();
  }

  /** Hand waiting messages to PGlite, one connection at a time, while there is any it may run. */
  #pump(): void {
    clearTimeout(this.#holdTimer);
    if (this.#pumping) return;
    this.#pumping = true;
    void (async () => {
      try {
        for (;;) {
          for (const x of this.#connections) if (x.closed && x !== this.#owner) this.#connections.delete(x);
          const c = this.#owner ?? [...this.#connections].find((x) => x.messages.length > 0);
          if (!c) return;
          if (c.closed) {
            await this.#reset();
            this.#owner = undefined;
            continue;
          }
          if (c.messages.length === 0) {
            // Held, waiting for its next message: as Postgres's idle_in_transaction_session_timeout,
            // another connection idle inside its transaction is closed (and its transaction rolled back).
            c.heldSince ??= Date.now();
            if (!c.own && this.#watch) this.#holdTimer = setTimeout(() => this.#endHold(c), c.heldSince + this.#watch.holdTimeoutMs - Date.now());
            return;
          }
          c.heldSince = undefined;
          this.#owner = c;
          this.#connections.delete(c);
          this.#connections.add(c);
          // The startup message goes alone (PGlite tells it by its first byte, 0); typed messages together.
          const batch = (c.messages[0] as Buffer)[0] === 0 ? [c.messages.shift() as Buffer] : c.messages.splice(0);
          const last = batch[batch.length - 1] as Buffer;
          const status = await this.#run(c, batch.length === 1 ? last : Buffer.concat(batch));
          if (status === 'I' && (last[0] === 0 || BOUNDARY_TYPES.has(last[0] as number))) this.#owner = undefined;
        }
      } finally {
        this.#pumping = false;
      }
    })();
  }

  /** Run `message` and send the replies to `c`. Returns the status of the last ReadyForQuery of the replies, if any. */
  async #run(c: Connection, message: Buffer): Promise<string | undefined> {
    const replies = new ReplyScanner((notification) => this.#forward(c, notification));
    const watch = c.own ? undefined : this.#watch;
    try {
      await this.#db.runExclusive(async () => {
        await watch?.started();
        try {
          await this.#db.execProtocolRawStream(message, {
            onRawData: (data) => {
              replies.scan(data);
              // A copy: `data` is a view of PGlite's buffer, which the next reply reuses.
              if (!c.socket.destroyed) c.socket.write(Buffer.from(data));
            },
          });
        } finally {
          watch?.ended();
        }
      });
    } catch {
      c.socket.destroy();
    }
    return replies.status;
  }

  /**
   * PGlite is one session: a LISTEN from any connection makes that session listen, and the
   * notifications it then receives arrive in the replies of whichever connection ran when they were
   * delivered (the notifier's, at its commit). They go on from there to every other connection that
   * asked for their channel.
   */
  #forward(from: Connection, notification: Buffer): void {
    const channel = notificationChannel(notification);
    for (const x of this.#connections) {
      if (x !== from && !x.closed && !x.socket.destroyed && x.listens.has(channel)) x.socket.write(notification);
    }
  }

  /** After a connection left while holding the database: end its extended-protocol sequence, roll back its transaction. */
  async #reset(): Promise<void> {
    const ignore = { onRawData: () => undefined };
    await this.#db
      .runExclusive(async () => {
        await this.#db.execProtocolRawStream(typedMessage('S', Buffer.alloc(0)), ignore); // Sync
        if (this.#db.isInTransaction()) await this.#db.execProtocolRawStream(queryMessage('ROLLBACK'), ignore);
      })
      .catch(() => undefined);
  }
}

/** A typed message: type byte, int32 length (counting itself), body. */
function typedMessage(type: string, body: Buffer): Buffer {
  const m = Buffer.alloc(5 + body.length);
  m.write(type, 0, 'latin1');
  m.writeInt32BE(4 + body.length, 1);
  body.copy(m, 5);
  return m;
}

/** A simple-protocol Query. */
function queryMessage(sql: string): Buffer {
  return typedMessage('Q', Buffer.from(`${sql}\0`));
}

/** An ErrorResponse (FATAL), for a client turned away before its startup. */
function errorResponse(sqlstate: string, text: string): Buffer {
  return typedMessage('E', Buffer.from(`SFATAL\0VFATAL\0C${sqlstate}\0M${text}\0\0`));
}

/** Follows the message framing of a reply stream, split anywhere, and keeps the status of its last ReadyForQuery ('Z'). */
class ReplyScanner {
  /** I idle, T in a transaction, E in a failed one; undefined before any ReadyForQuery. */
  status: string | undefined;
  /** Bytes of the current message's body still to pass. */
  #body = 0;
  #readyForQuery = false;
  /** A message header (type + length) split between two chunks. */
  #header: number[] = [];
  /** The NotificationResponse being read (header and body so far). */
  #notification: Buffer[] | undefined;
  readonly #onNotification: (message: Buffer) => void;

  constructor(onNotification: (message: Buffer) => void) {
    this.#onNotification = onNotification;
  }

  scan(data: Uint8Array): void {
    let at = 0;
    while (at < data.length) {
      if (this.#body > 0) {
        if (this.#readyForQuery) this.status = String.fromCharCode(data[at] as number); // its body is the status byte
        this.#readyForQuery = false;
        const n = Math.min(this.#body, data.length - at);
        // A copy: `data` is a view of PGlite's buffer, which the next reply reuses.
        this.#notification?.push(Buffer.from(data.subarray(at, at + n)));
        this.#body -= n;
        at += n;
        if (this.#body === 0 && this.#notification) {
          this.#onNotification(Buffer.concat(this.#notification));
          this.#notification = undefined;
        }
        continue;
      }
      this.#header.push(data[at++] as number);
      if (this.#header.length < 5) continue;
      const [type, a, b, c, d] = this.#header as [number, number, number, number, number];
      this.#header = [];
      this.#body = ((a << 24) | (b << 16) | (c << 8) | d) - 4;
      this.#readyForQuery = type === 0x5a && this.#body === 1;
      this.#notification = type === NOTIFICATION_RESPONSE && this.#body > 0 ? [Buffer.from([type, a, b, c, d])] : undefined;
    }
  }
}

/** A parameter of a startup message: int32 length, int32 protocol version, then name\0value\0 pairs, then \0. */
function startupParameter(message: Buffer, name: string): string | undefined {
  const fields = message.toString('utf8', 8, message.length).split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** A NotificationResponse's channel: after the type, the length and the sender's pid (int32). */
function notificationChannel(message: Buffer): string {
  const end = message.indexOf(0, 9);
  return message.toString('utf8', 9, end < 0 ? message.length : end);
}

/** LISTEN and UNLISTEN statements of a query, in order; unquoted names fold to lower case, as Postgres does. */
const LISTEN_STATEMENT = /\b(UN)?LISTEN\s+(\*|"((?:[^"]|"")+)"|[A-Za-z_][\w$]*)/gi;

function trackListens(listens: Set<string>, sql: string): void {
  if (!/listen/i.test(sql)) return;
  for (const m of sql.matchAll(LISTEN_STATEMENT)) {
    const name = m[3] !== undefined ? m[3].replaceAll('""', '"') : (m[2] as string).toLowerCase();
    if (!m[1]) listens.add(name);
    else if (m[2] === '*') listens.clear();
    else listens.delete(name);
  }
}
