/**
 * Errors are classified by the action they demand, not by where they come from:
 * - FatalError: retrying cannot help (bad configuration, bad credentials at start-up). Exit code 1.
 * - RetryableError: may succeed later (network, database restarting). Exit code 75 (EX_TEMPFAIL) if it escapes.
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

/** A bad environment variable: the message is the one line printed before exiting. */
export class ConfigError extends FatalError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

/** Normalise anything thrown into an Error, so logs always get `err.message` and `err.stack`. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value));
}

/** EX_TEMPFAIL: a supervisor restarting us may help. */
export const EXIT_TEMPFAIL = 75;

export function exitCodeFor(error: unknown): number {
  return error instanceof FatalError ? 1 : EXIT_TEMPFAIL;
}
