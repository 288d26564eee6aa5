/**
 * `npm run simulate`: fake backpack.tf, TradePost and store upstreams on loopback, with
 * traffic and optional faults, for running the daemon locally without real credentials.
 *
 * stdout carries only the `.env` lines that point the daemon at the fakes (so
 * `npm run simulate > .env.sim` works); progress and fault notices go to stderr. With
 * `--write-env <path>` the same lines are also written to <path>, but only once every fake
 * listens, and the file is deleted when the simulator stops (see startSimulation).
 */
import type { SimulatorConfig } from './simulation.js';
import { parseConfig, startSimulation, UsageError, USAGE } from './simulation.js';

/** How often a one-line traffic summary is written to stderr (ms). */
const STATUS_EVERY_MS = 10_000;
/** After a stop signal, exit anyway if cleanup hangs this long (ms). */
const FORCE_EXIT_AFTER_MS = 5_000;

/** parseConfig, with usage errors printed; undefined means "exit now" (help or bad flags). */
function configFromArgv(): SimulatorConfig | undefined {
  try {
    const config = parseConfig(process.argv.slice(2));
    if (!config) process.stdout.write(USAGE);
    return config;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`simulate: ${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return undefined;
  }
}

async function main(): Promise<void> {
  const config = configFromArgv();
  if (!config) return;

  const log = (line: string): void => {
    process.stderr.write(`[simulate ${new Date().toISOString()}] ${line}\n`);
  };

  let sim;
  try {
    sim = await startSimulation(config, log);
  } catch (err) {
    // Typically a fixed port already in use; the servers that did start are stopped again.
    process.stderr.write(`simulate: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
    return;
  }
  const { bptf, tradepost, commerce, traffic } = sim;
  // However the process ends (a crash included), do not leave a file naming dead ports behind.
  process.on('exit', () => sim.removeEnvFile());

  process.stdout.write(sim.env);

  const status = setInterval(() => {
    const s = traffic.stats;
    log(
      `bptf ${s.bptfEvents} events/${s.bptfFrames} frames (${s.malformedFrames} malformed) to ${bptf.connections} clients; ` +
        `tradepost ${s.tradepostMessages} msgs (${s.tradepostDelivered} deliveries), ${tradepost.authAttempts} auth attempts; ` +
        `commerce ${s.commerceEvents} events (${s.commerceDelivered} deliveries), ${commerce.logins} logins; ` +
        `${s.restarts} restarts`,
    );
  }, STATUS_EVERY_MS);
  status.unref();

  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) {
      // A second signal while cleanup hangs: give up on it (the exit handler still removes the env file).
      process.exit(1);
    }
    stopping = true;
    log(`stopping (${why})`);
    setTimeout(() => {
      log('cleanup timed out; exiting');
      process.exit(1);
    }, FORCE_EXIT_AFTER_MS).unref();
    clearInterval(status);
    await sim.stop();
    process.exitCode = 0;
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  if (config.durationSec !== undefined) {
    setTimeout(() => void stop(`--duration ${config.durationSec}s elapsed`), config.durationSec * 1000);
  }
}

await main();
