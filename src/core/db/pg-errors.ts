/**
 * Postgres errors, classified by what the writer must do, keyed by SQLSTATE (never by message text).
 *
 * - `bad_row`: the data itself is unacceptable (class 22 data exception, e.g. 22P05 a \u0000 in
 *   JSON; class 23 integrity violation). Retrying the same rows can never succeed: isolate and reject them.
 * - `retry`: everything else (connection refused or cut, 57P01 admin shutdown, 40001/40P01, timeouts,
 *   53xxx resources): the database may come back, so keep the rows and try again with backoff.
 */
export type PgErrorAction = 'bad_row' | 'retry';

export function classifyPgError(error: unknown): PgErrorAction {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  if (/^2[23][0-9A-Z]{3}$/.test(code)) return 'bad_row';
  return 'retry';
}
