import { existsSync } from 'node:fs';
import { configSecrets, loadConfig } from './config.js';
import { connectDatabase } from './core/db/connect.js';
import { migrateToLatest } from './core/db/migrate.js';
import { ConfigError, exitCodeFor } from './errors.js';
import { createLogger } from './logger.js';
import { registerSecrets } from './util/redact.js';

/** `npm run migrate`: apply pending migrations to DATABASE_URL (or the embedded database) and exit. */
async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig(process.env);
  registerSecrets(configSecrets(config));
  const logger = createLogger(config.logLevel, config.logFormat);
  const handle = await connectDatabase({ ...config, logger });
  try {
    await migrateToLatest(handle, logger);
    logger.info('migrations are up to date');
  } finally {
    await handle.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`tributary migrate: ${err instanceof ConfigError ? err.message : String((err as Error).message ?? err)}\n`);
  process.exit(exitCodeFor(err));
});
