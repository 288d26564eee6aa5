import { z } from 'zod';

/**
 * The kinds of environment variable the core (src/config.ts) and the feeds (src/feeds/<feed>/config.ts)
 * declare: shared, so a boolean, a URL or a list reads the same, with the same message, whoever owns it.
 */

/** A word (`true`, `false`, `1`, `0` …), never JavaScript truthiness: `false` is not a non-empty string. */
export const bool = z.stringbool();
export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
export const wsUrl = z.url({ protocol: /^wss?$/, error: 'must be a ws:// or wss:// URL' });
/**
 * An address to listen on: an IP address (`0.0.0.0` or `::` for every interface) or a host name. Checked
 * here so that a typo (a port or a URL in it) stops the start with one line instead of failing at listen.
 */
export const listenHost = z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: 'must be an IP address or a host name' });
export const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
/** A feed's `<FEED>_REPLICAS`: `one` replica runs it (the advisory lock's holder) or `all` do. */
export const replicas = z.enum(['one', 'all']);
export type ReplicaMode = z.output<typeof replicas>;
/** Unset and empty are the same: `.env.example` shows unset variables as `# NAME=`, a user may uncomment one. */
export const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
/** Comma-separated, blanks dropped; at least one entry. */
export const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))
  .refine((xs) => xs.length > 0, 'must name at least one entry');

/** A part of a URL's userinfo, decoded; undefined when there is none or the URL does not parse. */
function userinfo(url: string | undefined, part: 'username' | 'password'): string | undefined {
  if (!url) return undefined;
  try {
    const value = new URL(url)[part];
    return value ? decodeURIComponent(value) : undefined;
  } catch {
    return undefined;
  }
}

/** The user name in a URL (decoded). */
export function urlUser(url: string | undefined): string | undefined {
  return userinfo(url, 'username');
}

/** The password in a URL (decoded), for the redactor: a credential written into a URL is a secret too. */
export function urlPassword(url: string | undefined): string | undefined {
  return userinfo(url, 'password');
}
