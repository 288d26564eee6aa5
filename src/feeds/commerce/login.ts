/**
 * The store backend's REST login (its documentation: "login via the REST API to establish a session").
 * POSTs `{[fields[0]]: username, [fields[1]]: password}` as JSON and returns every cookie the
 * response sets, as one `Cookie` header value (`a=1; b=2`). All of them are kept, not only the
 * session cookie: a backend may require a companion cookie (e.g. CSRF) on the upgrade too.
 *
 * Errors name the URL's origin and the HTTP status, never the password, a cookie or the body.
 */

/** A login that has not answered within this long (ms) is abandoned (the attempt backs off and retries). */
export const LOGIN_TIMEOUT_MS = 10_000;

export interface LoginOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** JSON field names of the body: [user field, password field]. */
  readonly fields: readonly [string, string];
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

export class LoginError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LoginError';
  }
}

export async function login(opts: LoginOptions): Promise<string> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? LOGIN_TIMEOUT_MS);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const origin = safeOrigin(opts.url);
  let res: Response;
  try {
    res = await fetch(opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ [opts.fields[0]]: opts.username, [opts.fields[1]]: opts.password }),
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = timeout.aborted ? `no answer within ${opts.timeoutMs ?? LOGIN_TIMEOUT_MS} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new LoginError(`login request to ${origin} failed: ${why}`);
  }
  // The body is not needed (and may echo the user); release the connection.
  await res.body?.cancel().catch(() => undefined);
  if (res.status < 200 || res.status >= 300) {
    const hint = res.status === 401 || res.status === 403 ? ' (credentials refused: check COMMERCE_USERNAME / COMMERCE_PASSWORD / COMMERCE_LOGIN_FIELDS)' : '';
    throw new LoginError(`login at ${origin} answered HTTP ${res.status}${hint}`, res.status);
  }
  const cookie = cookieHeader(res.headers.getSetCookie());
  if (cookie === '') throw new LoginError(`login at ${origin} answered HTTP ${res.status} but set no cookie`, res.status);
  return cookie;
}

/**
 * `Set-Cookie` values -> one `Cookie` header value: `name=value` of each, attributes (Path,
 * HttpOnly, Expires…) stripped, a later cookie of the same name replacing an earlier one.
 */
export function cookieHeader(setCookies: readonly string[]): string {
  const byName = new Map<string, string>();
  for (const line of setCookies) {
    const pair = (line.split(';')[0] ?? '').trim();
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    byName.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return [...byName].map(([name, value]) => `${name}=${value}`).join('; ');
}

/** Names of the cookies in a `Cookie` header value (for logs: names only, never values). */
export function cookieNames(cookie: string): string[] {
  return cookie
    .split(';')
    .map((p) => p.slice(0, Math.max(0, p.indexOf('='))).trim())
    .filter((n) => n.length > 0);
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '[invalid url]';
  }
}
