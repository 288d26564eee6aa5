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

export function createLogger(level: string, destination?: DestinationStream): Logger {
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
