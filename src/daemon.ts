import { existsSync } from 'node:fs';
import type { HeadStart } from './app.js';
import { configSecrets, loadConfig } from './config.js';
import { lockDataDir } from './core/data-dir-lock.js';
import { startEmbeddedPostgres } from './core/db/embedded.js';
import { ConfigError, exitCodeFor, FatalError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { registerSecrets } from './util/redact.js';

/**
 * The daemon's entry point: read `.env`, parse the config (one line and exit 1 when invalid),
 * start the app, and stop it gracefully on SIGTERM/SIGINT. A second signal exits at once.
 */
async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tributary: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  // Masked in every log line from the first (createApp registers them too, for apps made without main).
  registerSecrets(configSecrets(config));
  const logger = createLogger(config.logLevel, config.logFormat);
  // Before the rest of the daemon loads (a third of a second of one core): the DATA_DIR lock, then the
  // embedded database's process, which takes most of a second to open, on the other core meanwhile.
  let headStart: HeadStart;
  try {
    headStart = {
      releaseLock: lockDataDir(config.dataDir),
      embedded: config.databaseUrl
        ? undefined
        : startEmbeddedPostgres({ dataDir: config.dataDir, host: config.embeddedPgHost, port: config.embeddedPgPort, queryTimeoutMs: config.embeddedQueryTimeoutMs, logger: logger.child({ component: 'database' }) }),
    };
  } catch (err) {
    reportStartFailure(err, logger);
    process.exit(exitCodeFor(err));
  }
  // Awaited, and reported, by app.start(); a rejection before then is not unhandled.
  headStart.embedded?.catch(() => undefined);
  const { createApp, SHUTDOWN_TIMEOUT_MS } = await import('./app.js');
  const app = createApp(config, logger, undefined, headStart);

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    signalled = true;
    logger.info({ signal }, 'stopping: closing sockets and writing buffered events');
    // If the graceful path hangs past the deadline, leave anyway (an orchestrator would SIGKILL soon).
    setTimeout(() => {
      logger.error('graceful stop exceeded its deadline; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS + 2_000).unref();
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; stopping');
    app.stop().finally(() => process.exit(1));
  });

  try {
    await app.start();
  } catch (err) {
    reportStartFailure(err, logger);
    await app.stop().catch(() => undefined);
    process.exit(exitCodeFor(err));
  }
}

/** A FatalError says what to fix in one line (e.g. DATA_DIR in use); anything else gets its stack. */
function reportStartFailure(err: unknown, logger: Logger): void {
  if (err instanceof FatalError) process.stderr.write(`tributary: ${err.message}\n`);
  else logger.fatal({ err }, 'could not start');
}

void main();
