/**
 * `npm run simulate`: fake backpack.tf, TradePost and store upstreams on loopback, with
 * traffic and optional faults, for running the daemon locally without real credentials.
 *
 * stdout carries only the `.env` lines that point the daemon at the fakes (so
 * `npm run simulate > .env.sim` works); progress and fault notices go to stderr.
 */
import { parseArgs } from 'node:util';
import { FakeBptfServer } from './bptf-server.js';
import { FakeCommerceServer } from './commerce-server.js';
import { FakeTradePostServer } from './tradepost-server.js';
import type { TrafficOptions } from './traffic.js';
import { startTraffic } from './traffic.js';

const SIM_API_KEY = 'sim_key';
const SIM_USER = { email: 'demo@example.com', password: 'demo' };
/** How often a one-line traffic summary is written to stderr (ms). */
const STATUS_EVERY_MS = 10_000;
/** After a stop signal, exit anyway if cleanup hangs this long (ms). */
const FORCE_EXIT_AFTER_MS = 5_000;

const USAGE = `Usage: npm run simulate -- [options]

Starts fake backpack.tf, TradePost and store upstreams (on 127.0.0.1 unless --host) and
prints the .env lines that point tributary at them. Runs until SIGINT/SIGTERM (or --duration).

Address:
  --host <addr>                bind address of all three servers (default 127.0.0.1;
                               0.0.0.0 in a container so other containers can connect)
Ports (0 = ephemeral):
  --bptf-port <n>              backpack.tf events socket (default 0)
  --tradepost-port <n>         TradePost TPX socket (default 0)
  --commerce-port <n>          store REST login + /ws (default 0)
Traffic:
  --bptf-rate <n>              backpack.tf events per second, batched per 100 ms (default 50)
  --listings <n>               distinct listing ids (default 5000)
  --tradepost-rate <n>         TradePost messages per second (default 2)
  --commerce-rate <n>          store events per second (default 2)
Faults:
  --restart-every <s>          abruptly restart all servers every s seconds
  --silent-after <s>           backpack.tf goes silent (socket open, nothing sent) after s seconds
  --malformed-rate <0..1>      fraction of backpack.tf frames replaced by garbage / truncated JSON
  --reject-auth                TradePost rejects every API key
  --expire-session-every <s>   store sessions expire (close 1008) every s seconds
Other:
  --duration <s>               stop by itself after s seconds
  -h, --help                   show this help
`;

type Config = {
  host: string;
  ports: { bptf: number; tradepost: number; commerce: number };
  traffic: TrafficOptions;
  rejectAuth: boolean;
  durationSec: number | undefined;
};

class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses a numeric flag; undefined when absent, UsageError when not a number in [min, max]. */
function num(
  values: Record<string, string | boolean | undefined>,
  flag: string,
  opts: { min: number; max?: number; integer?: boolean },
): number | undefined {
  const raw = values[flag];
  if (raw === undefined || typeof raw === 'boolean') return undefined;
  const value = Number(raw);
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  if (raw.trim() === '' || !Number.isFinite(value) || value < opts.min || value > max || (opts.integer && !Number.isInteger(value))) {
    const kind = opts.integer ? 'an integer' : 'a number';
    throw new UsageError(`--${flag}: expected ${kind} between ${opts.min} and ${max}, got "${raw}"`);
  }
  return value;
}

/** Parses argv into a Config; returns undefined when --help was asked. */
function parseConfig(argv: string[]): Config | undefined {
  const stringFlags = [
    'host', 'bptf-port', 'tradepost-port', 'commerce-port', 'bptf-rate', 'listings', 'tradepost-rate', 'commerce-rate',
    'restart-every', 'silent-after', 'malformed-rate', 'expire-session-every', 'duration',
  ] as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(stringFlags.map((f) => [f, { type: 'string' as const }])),
        'reject-auth': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) return undefined;
  const port = (flag: string): number => num(values, flag, { min: 0, max: 65_535, integer: true }) ?? 0;
  const positiveSec = (flag: string): number | undefined => {
    const v = num(values, flag, { min: 0 });
    if (v === 0) throw new UsageError(`--${flag}: must be greater than 0`);
    return v;
  };
  const host = values.host;
  if (typeof host === 'string' && host.trim() === '') throw new UsageError('--host: must not be empty');
  return {
    host: typeof host === 'string' ? host.trim() : '127.0.0.1',
    ports: { bptf: port('bptf-port'), tradepost: port('tradepost-port'), commerce: port('commerce-port') },
    traffic: {
      bptfRate: num(values, 'bptf-rate', { min: 0 }) ?? 50,
      listings: num(values, 'listings', { min: 1, integer: true }) ?? 5000,
      tradepostRate: num(values, 'tradepost-rate', { min: 0 }) ?? 2,
      commerceRate: num(values, 'commerce-rate', { min: 0 }) ?? 2,
      malformedRate: num(values, 'malformed-rate', { min: 0, max: 1 }) ?? 0,
      restartEverySec: positiveSec('restart-every'),
      silentAfterSec: num(values, 'silent-after', { min: 0 }),
      expireSessionEverySec: positiveSec('expire-session-every'),
    },
    rejectAuth: values['reject-auth'] === true,
    durationSec: positiveSec('duration'),
  };
}

/** parseConfig, with usage errors printed; undefined means "exit now" (help or bad flags). */
function configFromArgv(): Config | undefined {
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

  const { host } = config;
  const bptf = new FakeBptfServer({ host, port: config.ports.bptf });
  const tradepost = new FakeTradePostServer({ host, port: config.ports.tradepost, apiKeys: [SIM_API_KEY], rejectAuth: config.rejectAuth });
  const commerce = new FakeCommerceServer({ host, port: config.ports.commerce, users: [SIM_USER] });
  await Promise.all([bptf.start(), tradepost.start(), commerce.start()]);

  process.stdout.write(
    [
      `BPTF_URL=${bptf.url}`,
      `TRADEPOST_URL=${tradepost.url}`,
      `TRADEPOST_API_KEY=${SIM_API_KEY}`,
      `COMMERCE_WS_URL=${commerce.wsUrl}`,
      `COMMERCE_LOGIN_URL=${commerce.loginUrl}`,
      `COMMERCE_USERNAME=${SIM_USER.email}`,
      `COMMERCE_PASSWORD=${SIM_USER.password}`,
    ].join('\n') + '\n',
  );

  const traffic = startTraffic({ bptf, tradepost, commerce }, config.traffic, log);
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
      // A second signal while cleanup hangs: give up on it.
      process.exit(1);
    }
    stopping = true;
    log(`stopping (${why})`);
    setTimeout(() => {
      log('cleanup timed out; exiting');
      process.exit(1);
    }, FORCE_EXIT_AFTER_MS).unref();
    clearInterval(status);
    await traffic.stop();
    await Promise.all([bptf.stop(), tradepost.stop(), commerce.stop()]);
    process.exitCode = 0;
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  if (config.durationSec !== undefined) {
    setTimeout(() => void stop(`--duration ${config.durationSec}s elapsed`), config.durationSec * 1000);
  }
}

await main();
