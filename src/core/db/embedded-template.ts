import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';

/**
 * A new embedded database is a copy of a template. Creating one (initdb: bootstrapping the catalogs
 * in WebAssembly) took 5.2 s of CPU on 2 cores; copying the result (39 MB, 971 files) takes well
 * under a tenth of that. The first database created on an installation becomes the template, kept
 * in `node_modules/.cache/tributary/`, one per PGlite version (a data directory is only valid for the
 * Postgres build that created it); the Docker image is built with it. Best effort: where the cache
 * cannot be written (a read-only installation), every new database is created from scratch.
 *
 * Copies share initdb's random system identifier, which only matters to physical replication, which
 * PGlite does not do.
 */
export function templateDir(): string | undefined {
  try {
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    const at = entry.lastIndexOf(`${sep}node_modules${sep}`);
    if (at < 0) return undefined;
    const nodeModules = entry.slice(0, at + `${sep}node_modules`.length);
    const { version } = JSON.parse(readFileSync(join(nodeModules, '@electric-sql', 'pglite', 'package.json'), 'utf8')) as { version: string };
    return join(nodeModules, '.cache', 'tributary', `pglite-${version}`);
  } catch {
    return undefined;
  }
}

/**
 * Copy the template to `target` (a data directory that does not exist yet); false when there is none.
 * Synchronous (about 0.2 s): done while the daemon loads its modules, an asynchronous copy of the 971
 * files waited for the event loop between files and took 1.9 s.
 */
export function copyTemplate(target: string, template = templateDir()): boolean {
  if (!template || !existsSync(join(template, 'PG_VERSION'))) return false;
  copyWhole(template, target, PRIVATE);
  return true;
}

/** Keep `source`, a database just created and closed, as the template (when there is none yet). */
export function saveTemplate(source: string, template = templateDir()): void {
  if (!template || existsSync(template)) return;
  try {
    copyWhole(source, template, SHARED);
  } catch {
    // Not writable, or another process saved one first: both fine.
  }
}

/** Modes of a copy's directories and files. */
interface Modes {
  readonly dir: number;
  readonly file: number;
}
/**
 * The template: readable by every user, since the one who makes it is often not the one who copies
 * it (the Docker image's build runs as root, the daemon as `node`; initdb's files are 0600). It is an
 * empty database: nothing in it is secret.
 */
const SHARED: Modes = { dir: 0o755, file: 0o644 };
/** A database: its owner's only, as initdb makes a data directory. */
const PRIVATE: Modes = { dir: 0o700, file: 0o600 };

/** Copy a directory whole or not at all: a copy cut short must not pass for a database (or a template). */
function copyWhole(source: string, target: string, modes: Modes): void {
  const partial = `${target}.partial-${process.pid}`;
  try {
    mkdirSync(dirname(target), { recursive: true });
    cpSync(source, partial, { recursive: true });
    setModes(partial, modes);
    renameSync(partial, target);
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
}

function setModes(dir: string, modes: Modes): void {
  chmodSync(dir, modes.dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) setModes(path, modes);
    else chmodSync(path, modes.file);
  }
}
