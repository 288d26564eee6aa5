import type pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import type { PasswordSource } from './password-file.js';

/**
 * pg's connection settings for a URL, with the password taken from `password` (DATABASE_PASSWORD_FILE)
 * when given. pg lets a `connectionString` override every other setting, its password included
 * (an empty one when the URL has none), so with a password source the URL is parsed here, by pg's own
 * parser, and its password left out: pg then asks the source before each new connection authenticates.
 */
export function pgConnection(url: string, password?: PasswordSource): pg.ClientConfig {
  if (!password) return { connectionString: url };
  const { password: _fromUrl, ...settings } = parseIntoClientConfig(url);
  return { ...settings, password };
}
