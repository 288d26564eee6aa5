import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { classifyWriteError } from '../../core/db/pg-errors.js';
import type { FeedContext, FeedRoute } from '../../core/feed.js';
import { sendJson, type RouteHandler } from '../../core/http/server.js';
import { makeReject, refusalReason } from '../../core/ingest/reject.js';
import { eventsTable } from './events-table.js';
import { parseTradePostWebhook, SOURCE } from './parse.js';

/**
 * POST /webhooks/tradepost: TradePost's webhook deliveries, the backup path for the socket.
 *
 * Order of checks, cheapest first: the shared secret (401, before a byte of the body is read),
 * the declared size (413 from content-length, without reading), the actual size while reading
 * (413 and the connection is dropped once a chunked body passes the cap), the message (400,
 * stored in ingest_rejects), then the database. The message is written directly, not through the
 * batch writer, and 200 is sent only after the commit: TradePost retries a delivery that got no
 * 200, so a crash before the commit loses nothing. A duplicate (the socket copy, a retry) is also
 * 200. 503 when the database cannot take the write, so that TradePost retries later.
 *
 * TradePost documents no signature header; the secret is a shared token the operator configures
 * on both sides, sent as `X-Webhook-Secret: <secret>` or `Authorization: Bearer <secret>`.
 */

export const WEBHOOK_PATH = '/webhooks/tradepost';
/** Largest body accepted (bytes). Real deliveries are a few KiB. */
export const WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;
/** After a 413 on a body still arriving, how long (ms) the rest is read and discarded before the socket is dropped. */
const LINGER_MS = 1_000;
/** At most one log line about refused (401) deliveries this often (ms): a scanner must not flood the log. */
const UNAUTHORIZED_LOG_MS = 10_000;

export interface TradePostWebhookOptions {
  readonly secret: string;
  /** The `tradepost` feed's context: its status and metrics count webhook deliveries too. */
  readonly ctx: FeedContext;
  readonly maxBodyBytes?: number;
}

export function tradePostWebhookRoute(opts: TradePostWebhookOptions): FeedRoute {
  return { method: 'POST', path: WEBHOOK_PATH, handler: createTradePostWebhookHandler(opts) };
}

export function createTradePostWebhookHandler(opts: TradePostWebhookOptions): RouteHandler {
  const { ctx } = opts;
  const logger = ctx.logger.child({ component: 'webhook' });
  const maxBytes = opts.maxBodyBytes ?? WEBHOOK_MAX_BODY_BYTES;
  // Digests have a fixed length, so comparing them never reveals the secret's length.
  const expected = sha256(opts.secret);

  // Refused deliveries are logged at most once per UNAUTHORIZED_LOG_MS, with the count since the last line.
  let unauthorized = 0;
  let lastUnauthorizedLog = 0;

  return async (req, res) => {
    const presented = presentedSecret(req);
    if (presented === undefined || !timingSafeEqual(sha256(presented), expected)) {
      unauthorized++;
      if (Date.now() - lastUnauthorizedLog >= UNAUTHORIZED_LOG_MS) {
        logger.warn({ remote: req.socket.remoteAddress, refused: unauthorized }, 'webhook deliveries with a missing or wrong secret');
        lastUnauthorizedLog = Date.now();
        unauthorized = 0;
      }
      refuse(req, res, 401, 'missing or wrong webhook secret');
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      refuse(req, res, 413, `body larger than ${maxBytes} bytes`);
      return;
    }
    if (!ctx.ready()) {
      // Not 404 and not a reject: TradePost retries a delivery that got no 200, and the schema is coming.
      res.setHeader('retry-after', '5');
      sendJson(res, 503, { error: 'starting: the database is not ready yet' });
      req.resume();
      return;
    }
    const body = await readBody(req, res, maxBytes);
    if (body === undefined) return; // answered (413) or the client went away

    const receivedAt = Date.now();
    const parsed = parseTradePostWebhook(body, receivedAt);
    if (parsed.kind === 'reject') {
      ctx.reject([parsed.reject]);
      sendJson(res, 400, { error: parsed.reject.reason });
      return;
    }
    const row = parsed.row;
    ctx.status.messageReceived('other');
    ctx.status.eventsParsed(1);
    if (ctx.admit(eventsTable, [row]).length === 0) {
      sendJson(res, 400, { error: 'sent_at is too far in the future (stored in ingest_rejects)' });
      return;
    }
    try {
      const inserted = (await ctx.writeNow(eventsTable, [row])).reduce((n, c) => n + c.ids.length, 0);
      ctx.written(eventsTable, [row]);
      logger.debug({ msg_type: row.msgType, duplicate: inserted === 0 }, 'webhook delivery stored');
      sendJson(res, 200, { status: inserted > 0 ? 'stored' : 'duplicate' });
    } catch (err) {
      if (classifyWriteError(err).scope === 'row') {
        // The data itself is unacceptable (e.g. \u0000 in a JSON string): a retry cannot help. Any
        // other error (the database down or refusing, or unclassified) is answered 503: TradePost
        // delivers again later, and nothing is set aside that the database was at fault for.
        const reason = refusalReason(eventsTable.rowKind, err);
        ctx.reject([makeReject(SOURCE, reason, body, receivedAt, row.dedupeKey)]);
        sendJson(res, 400, { error: reason });
        return;
      }
      logger.warn({ err }, 'could not store a webhook delivery; answering 503 so TradePost retries');
      res.setHeader('retry-after', '5');
      sendJson(res, 503, { error: 'database unavailable' });
    }
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The secret from `X-Webhook-Secret`, else from `Authorization: Bearer`. */
function presentedSecret(req: IncomingMessage): string | undefined {
  const header = req.headers['x-webhook-secret'];
  if (typeof header === 'string' && header.length > 0) return header;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/**
 * Answer without reading the body, and close the connection afterwards (its unread body makes it
 * unusable for another request). Node discards what still arrives until the socket closes.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, error: string): void {
  res.setHeader('connection', 'close');
  sendJson(res, status, { error });
  lingerThenDestroy(req, res);
}

/**
 * Drop the connection once the answer is out. Closing a socket that still has unread input
 * makes the kernel send a reset, which can destroy the answer in the client's buffers before it
 * reads it; so the rest of the body is read and thrown away for a short while first (nothing is kept).
 */
function lingerThenDestroy(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  // Node's server ends a `connection: close` response with socket.destroySoon(), which destroys the
  // socket as soon as the answer is flushed, unread input and all: a client still sending its body
  // then met a reset (EPIPE) before it read the 413. Only half-close it there; the timer below ends it.
  const socket = req.socket;
  socket.destroySoon = () => void socket.end();
  res.once('finish', () => {
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}

/** The body as text, or undefined when it was too large (413 sent) or the client went away. */
function readBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (value: string | undefined) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      settle(undefined);
      refuse(req, res, 413, `body larger than ${maxBytes} bytes`);
    };
    req.on('data', onData);
    req.once('end', () => settle(Buffer.concat(chunks).toString('utf8')));
    req.once('error', () => settle(undefined));
    req.once('close', () => settle(undefined));
  });
}
