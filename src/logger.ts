import { pino, type DestinationStream, type Logger } from 'pino';

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
 * Log lines go to stdout, each written before the call returns. pino's default (buffered, flushed
 * synchronously at exit) never exits once stdout's reader is gone: that last flush retries a broken
 * pipe forever, and the process hangs at its exit instead of ending. Written synchronously, a broken
 * pipe is seen at once, and pino then stops logging. A line costs one write system call; the daemon
 * writes a few a minute.
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  return pino(
    {
      level,
      base: { service: 'tributary' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** Replace the password in a connection string, for logs that name the database. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
