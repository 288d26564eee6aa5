import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { registerSecrets } from '../../util/redact.js';

/**
 * DATABASE_PASSWORD_FILE: the database password kept in a file (a Docker or Kubernetes secret),
 * read again for every new connection, so a rotated secret is used without a restart. The file's
 * trailing line breaks are not part of the password (editors and `echo` add one). Each value read
 * is registered with the redactor, so a rotated password is masked in logs as the first one was.
 */

/** Reads the password for one new connection (pg calls it before authenticating). */
export type PasswordSource = () => Promise<string>;

function passwordOf(text: string): string {
  return text.replace(/[\r\n]+$/, '');
}

export function passwordFromFile(path: string): PasswordSource {
  return async () => {
    const password = passwordOf(await readFile(path, 'utf8'));
    registerSecrets([password]);
    return password;
  };
}

/**
 * The start-up check: why the file cannot serve as a password (`ENOENT`, `EACCES`, `empty`…), or
 * undefined when it can. The reason names no content.
 */
export function passwordFileProblem(path: string): string | undefined {
  try {
    const password = passwordOf(readFileSync(path, 'utf8'));
    if (password.length === 0) return 'is empty';
    registerSecrets([password]);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `cannot be read (${code ?? (err as Error).message})`;
  }
}
