import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';
import { redactDeep, redactSecrets } from './util/redact.js';

export type { Logger };

/**
 * Paths redacted in every log line. Secrets are also kept out of log calls at the source;
 * this is the second line of defence, for objects logged whole (config, headers, requests).
 */
const REDACT_PATHS = [
  'apiKey',
  'password',
  'cookie',
  'token',
  'secret',
  'webhookSecret',
  'databaseUrl',
  '*.apiKey',
  '*.password',
  '*.cookie',
  '*.token',
  '*.secret',
  '*.databaseUrl',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]',
  'headers["x-webhook-secret"]',
  'payload.token',
];

/**
 * Text redaction (util/redact.ts: URL passwords, credential parameters, the registered secrets' values)
 * at pino's hooks, so no line carries a credential whatever a caller passes: the message (also when
 * pino takes it from an error), the error's message and stack (its causes included), and every string
 * field of the logged object and of a child's bindings. Each hook copies only what it changes, and a
 * string without any rule's marker is scanned, never copied: a line costs a few substring searches.
 */
function redactedErr(err: unknown): unknown {
  const s: unknown = pino.stdSerializers.err(err as Error);
  if (s === null || typeof s !== 'object') return redactDeep(s);
  // A fresh object of pino's (its prototype keeps the original error as `raw`): rewrite its own fields in place.
  const fields = s as Record<string, unknown>;
  for (const key of Object.keys(fields)) fields[key] = redactDeep(fields[key]);
  return s;
}

function redactFields(obj: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(obj)) {
    if (key === 'err') continue; // the err serializer's, which keeps the error's type, message and stack
    const v = obj[key];
    const r = redactDeep(v);
    if (r !== v) (copy ??= { ...obj })[key] = r;
  }
  return copy ?? obj;
}

/**
 * Log lines go to stdout, each written before the call returns. pino's default (buffered, flushed
 * synchronously at exit) never exits once stdout's reader is gone: that last flush retries a broken
 * pipe forever, and the process hangs at its exit instead of ending. Written synchronously, a broken
 * pipe is seen at once, and pino then stops logging. A line costs one write system call; the daemon
 * writes a few a minute.
 */
export function createLogger(level: string, destination: DestinationStream | 'json' | 'pretty' = 'json'): Logger {
  const out = destination === 'json' ? pino.destination({ dest: 1, sync: true }) : destination === 'pretty' ? prettyStdout() : destination;
  return makeLogger(level, out);
}

/**
 * LOG_FORMAT=pretty: pino-pretty, the formatter pino's users run in a terminal, as a stream in this
 * process (not a worker thread), written synchronously like the JSON lines: one line an event, the
 * time, level, where it comes from and its message, and the other fields below it.
 */
function prettyStdout(): DestinationStream {
  return PinoPretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service,source,component,writer',
    messageFormat: '{if source}[{source}] {end}{if component}[{component}] {end}{if writer}({writer}) {end}{msg}',
    hideObject: false,
  });
}

function makeLogger(level: string, destination: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'tributary' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { log: redactFields },
      serializers: { err: redactedErr, msg: (msg: unknown) => (typeof msg === 'string' ? redactSecrets(msg) : msg) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  // pino's bindings formatter sees the root's bindings only (a child resets it), so a child's are
  // redacted here, once when it is made. Children inherit this method: grandchildren too.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, redactFields(bindings), options);
  } as Logger['child'];
  return logger;
}

/** A connection string without its password, for logs that name the database (`postgres://user:***@host/db`). */
export function redactUrl(url: string): string {
  return redactSecrets(url);
}
