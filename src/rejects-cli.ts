import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from './config.js';
import { connectDatabase } from './core/db/connect.js';
import { replayRejects, type ReplayOptions } from './core/ingest/replay.js';
import { ConfigError, exitCodeFor } from './errors.js';
import { FEEDS } from './feeds/index.js';
import { createLogger } from './logger.js';

const USAGE = 'usage: npm run rejects -- replay [--source S] [--since ISO] [--reason-like TEXT] [--dry-run]';

/** The command line (without node and the script) as replay options; a ConfigError names what is wrong. */
function parseReplayArgs(argv: readonly string[]): ReplayOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { source: { type: 'string' }, since: { type: 'string' }, 'reason-like': { type: 'string' }, 'dry-run': { type: 'boolean' } },
    });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || positionals[0] !== 'replay') throw new ConfigError(USAGE);
  const since = values.since === undefined ? undefined : new Date(values.since);
  if (since !== undefined && Number.isNaN(since.getTime())) throw new ConfigError(`--since ${values.since} is not a date (ISO 8601, e.g. 2026-12-01T00:00:00Z)`);
  return { source: values.source, since, reasonLike: values['reason-like'], dryRun: values['dry-run'] === true };
}

/**
 * `npm run rejects -- replay`: send stored rejects through their feed's parser and tables' writes
 * again (DATABASE_URL, or the embedded database, as `npm run migrate` connects), print each and the
 * counts, exit 0. The schema must be migrated (`npm run migrate`, or the daemon has started once).
 */
async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const opts = parseReplayArgs(process.argv.slice(2));
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel, config.logFormat);
  const handle = await connectDatabase({ ...config, logger });
  try {
    const out = (line: string) => process.stdout.write(`${line}\n`);
    const c = await replayRejects(handle.db, FEEDS, config, opts, out);
    out(`${opts.dryRun ? 'dry run (nothing written): ' : ''}matched ${c.matched}, ${opts.dryRun ? 'would write' : 'written'} ${c.written}, refused again ${c.refused}, skipped ${c.skipped}`);
  } finally {
    await handle.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`tributary rejects: ${err instanceof ConfigError ? err.message : String((err as Error).message ?? err)}\n`);
  process.exit(exitCodeFor(err));
});
