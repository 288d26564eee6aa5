/**
 * Credentials out of every text a user can read: log lines, `ingest_status.last_error`, the status
 * page and `/status.json`. Three rules, applied to any text (an error message, a URL, a log field):
 *
 * - the password of a URL's userinfo: `scheme://user:secret@host` -> `scheme://user:***@host`;
 * - the value of a parameter whose name says it is a credential (token, key, password, secret,
 *   auth, signature, credential, cookie), in a query string (`?access_token=…`), as `name=value`
 *   text (a libpq conninfo), or as a JSON member (`"apiKey":"…"`); and `Bearer …` / `Basic …`;
 * - the exact values of the configured secrets (API key, passwords, cookie, webhook secret, the
 *   database password), which the daemon registers once at start (`registerSecrets`), wherever they
 *   appear: an upstream error that echoes a credential is caught by this rule alone.
 *
 * `redactSecrets` is pure given its `secrets` argument; by default it uses the registered ones.
 */

export const MASK = '***';

/**
 * Secret values shorter than this (characters) are not matched on their own: a one-letter password
 * would turn every such letter of every line into the mask. The URL and parameter rules still hide them.
 */
export const MIN_SECRET_LENGTH = 4;
/** Registered values kept at most (the oldest go first): a password file rotated for years stays bounded. */
const MAX_SECRETS = 100;

/** `scheme://` `user` `:` `password` `@`: the password runs to the last `@` before the path, a quote or a space. */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s:/?#@"'`<>]*):([^\s/?#"'`<>]*)@/gi;
const NAME = String.raw`[\w.-]*?(?:token|key|pass|pwd|secret|auth|signature|credential|cookie)[\w.-]*`;
/** `name=value` in a query string or in text; a value may be single-quoted (libpq conninfo). */
const PARAM = new RegExp(String.raw`(^|[?&;,\s(])(${NAME})=('(?:[^'\\]|\\.)*'|[^&#\s"'\x60<>;,)]*)`, 'gi');
/** `"name": "value"` in JSON text an upstream echoed. */
const JSON_MEMBER = new RegExp(String.raw`("${NAME}"\s*:\s*")((?:[^"\\]|\\.)*)"`, 'gi');
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}/g;

let registered: readonly string[] = [];

/**
 * Add the values of configured secrets (undefined and empty ones are skipped), and their
 * URL-encoded forms, as they appear inside a connection string. Idempotent.
 */
export function registerSecrets(values: Iterable<string | null | undefined>): void {
  const next = new Set(registered);
  for (const value of values) {
    if (!value || value.length < MIN_SECRET_LENGTH) continue;
    next.delete(value); // re-registered: now the newest
    next.add(value);
    const encoded = encodeURIComponent(value);
    if (encoded !== value) next.add(encoded);
  }
  const kept = [...next].slice(-MAX_SECRETS);
  // Longest first: a secret that contains another is masked whole.
  registered = kept.sort((a, b) => b.length - a.length);
}

/** The registered values (for tests and for callers that pass them on). */
export function registeredSecrets(): readonly string[] {
  return registered;
}

/** Forget every registered value (tests only). */
export function clearSecrets(): void {
  registered = [];
}

/** `text` with every credential the rules above find replaced by `***`. Returns `text` itself when nothing matched. */
export function redactSecrets(text: string, secrets: readonly string[] = registered): string {
  if (text.length === 0) return text;
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK);
  // Each rule runs only when its marker is there: most log text holds none of them.
  if (out.includes('://')) out = out.replace(USERINFO, `$1$2:${MASK}@`);
  if (out.includes('=')) out = out.replace(PARAM, (_m, lead: string, name: string) => `${lead}${name}=${MASK}`);
  if (out.includes('":')) out = out.replace(JSON_MEMBER, `$1${MASK}"`);
  if (out.includes('Bearer') || out.includes('Basic')) out = out.replace(BEARER, `$1 ${MASK}`);
  return out;
}

/** How deep `redactDeep` walks into nested objects and arrays; log fields are shallow. */
const MAX_DEPTH = 6;

/**
 * `value` with `redactSecrets` applied to every string inside it (objects and arrays, to MAX_DEPTH),
 * copied only where something changed: an untouched value is returned as is. An object with `toJSON`
 * (a URL) is redacted as what it serialises to; Dates and binary data are left alone.
 */
export function redactDeep(value: unknown, secrets: readonly string[] = registered, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value, secrets);
  if (value === null || typeof value !== 'object' || depth >= MAX_DEPTH) return value;
  if (value instanceof Date || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const r = redactDeep(v, secrets, depth + 1);
      if (r !== v) (copy ??= value.slice())[i] = r;
    }
    return copy ?? value;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const json: unknown = toJSON.call(value);
    const r = redactDeep(json, secrets, depth + 1);
    return r === json ? value : r;
  }
  let copy: Record<string, unknown> | undefined;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const v = record[key];
    const r = redactDeep(v, secrets, depth + 1);
    if (r !== v) (copy ??= { ...record })[key] = r;
  }
  return copy ?? value;
}
