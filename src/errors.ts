/**
 * Errors are classified by the action they demand, not by where they come from. Each has a stable
 * `code` (logs and tests match on it, never on message text) and keeps its cause.
 *
 * - FatalError: retrying cannot help; the process exits 1.
 *   - ConfigError: a bad environment variable; its message is the one line printed before exiting.
 * - RetryableError: may succeed later (network, database restarting); exit 75 (EX_TEMPFAIL) if it escapes.
 *   - AuthError: an upstream refused our credentials. Hammering does not fix a key, so the connection
 *     is retried only at the maximum backoff; state `auth_failed`.
 *   - UpstreamConfigError: an upstream refused our settings (e.g. rooms that do not exist). Also retried
 *     at the maximum backoff, in case the upstream changes; state `config_error`.
 */
export class BaseError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class FatalError extends BaseError {}
export class RetryableError extends BaseError {}

export class ConfigError extends FatalError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

export class AuthError extends RetryableError {}
export class UpstreamConfigError extends RetryableError {}

/** EX_TEMPFAIL: a supervisor restarting us may help. */
export const EXIT_TEMPFAIL = 75;

export function exitCodeFor(error: unknown): number {
  return error instanceof FatalError ? 1 : EXIT_TEMPFAIL;
}
