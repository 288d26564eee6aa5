/**
 * The simulator as a library: its command line (parseConfig, USAGE) and one run of it
 * (startSimulation: the three fake upstreams, their traffic, and the optional env file).
 * main.ts adds only the process around it (argv, signals, exit codes); tests run it in-process.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FakeBptfServer } from './bptf-server.js';
import { FakeCommerceServer } from './commerce-server.js';
import { FakeTradePostServer } from './tradepost-server.js';
import type { Traffic, TrafficOptions } from './traffic.js';
import { startTraffic } from './traffic.js';

export const SIM_API_KEY = 'sim_key';
export const SIM_USER = { email: 'demo@example.com', password: 'demo' };

export const USAGE = `Usage: npm run simulate -- [options]

Starts fake backpack.tf, TradePost and store upstreams (on 127.0.0.1 unless --host) and
prints the .env lines that point tributary at them. Runs until SIGINT/SIGTERM (or --duration).

Output:
  --write-env <path>           also write those lines to <path>, once all three servers listen
                               (written whole: <path>.tmp, then renamed). A file left at <path>
                               is deleted first, and the file is deleted again when the
                               simulator stops, so it only ever names ports that are listening.
                               Then: node --env-file=<path> scripts/run.mjs start
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
  --no-examples                do not send the README's example records. By default every new
                               client gets them: backpack.tf listings of user 76561199072611396
                               (a Team Captain for sale, a key buy order; never deleted) and one
                               malformed frame (so ingest_rejects has a row), TradePost
                               conversation 550e8400-e29b-41d4-a716-446655440000 from its first
                               message, and an event of store order 123
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

export type SimulatorConfig = {
  host: string;
  ports: { bptf: number; tradepost: number; commerce: number };
  traffic: TrafficOptions;
  rejectAuth: boolean;
  durationSec: number | undefined;
  /** `--write-env`: where to write the env lines once the servers listen; undefined: stdout only. */
  envFile: string | undefined;
};

export class UsageError extends Error {
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

/** Parses argv (without node and the script) into a config; undefined when --help was asked. */
export function parseConfig(argv: readonly string[]): SimulatorConfig | undefined {
  const stringFlags = [
    'host', 'bptf-port', 'tradepost-port', 'commerce-port', 'bptf-rate', 'listings', 'tradepost-rate', 'commerce-rate',
    'restart-every', 'silent-after', 'malformed-rate', 'expire-session-every', 'duration', 'write-env',
  ] as const;
  // Node 20 scans the whole command line, script arguments included, for --env-file: with a path
  // that does not exist it exits ("node: <path>: not found", status 9) before any of this runs, so
  // the simulator cannot own that name. When Node lets it through (the file exists), say what to use.
  if (argv.some((a) => a === '--env-file' || a.startsWith('--env-file='))) {
    throw new UsageError('--env-file is a Node option (Node reads it before the simulator starts); use --write-env <path>');
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(stringFlags.map((f) => [f, { type: 'string' as const }])),
        'reject-auth': { type: 'boolean' },
        // A flag of its own, not parseArgs' allowNegative: the older Node 20 releases that
        // package.json's engines still allow do not have that option.
        'no-examples': { type: 'boolean' },
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
  const envFile = values['write-env'];
  if (typeof envFile === 'string' && envFile.trim() === '') throw new UsageError('--write-env: must not be empty');
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
      examples: values['no-examples'] !== true,
    },
    rejectAuth: values['reject-auth'] === true,
    durationSec: positiveSec('duration'),
    envFile: typeof envFile === 'string' ? envFile : undefined,
  };
}

export type Simulation = {
  readonly bptf: FakeBptfServer;
  readonly tradepost: FakeTradePostServer;
  readonly commerce: FakeCommerceServer;
  readonly traffic: Traffic;
  /** The `.env` lines that point tributary at the fakes, newline-terminated (printed, and written to --write-env). */
  readonly env: string;
  /** Deletes the env file if it still holds this run's lines; synchronous, so an `exit` handler can call it. */
  removeEnvFile(): void;
  /** Deletes the env file first (a daemon started now must not find dead ports), then stops traffic and servers. */
  stop(): Promise<void>;
};

/** Writes `content` to `path` whole: readers see no file, or all of it, never a part. */
function writeAtomically(path: string, content: string): void {
  const tmp = `${path}.tmp`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Starts the three fakes and, once all listen, writes `config.envFile` (if set) and starts the
 * traffic. The order is the point: a stale env file is deleted synchronously, before this
 * returns its promise and before any server is created, and the new one is written only after
 * every server listens, so the file never names a port nobody listens on. When a server cannot
 * listen, the others are stopped, no file is written, and the error is thrown.
 */
export async function startSimulation(config: SimulatorConfig, log: (line: string) => void): Promise<Simulation> {
  const envFile = config.envFile;
  if (envFile !== undefined) {
    rmSync(envFile, { force: true });
    rmSync(`${envFile}.tmp`, { force: true });
  }

  const { host } = config;
  const bptf = new FakeBptfServer({ host, port: config.ports.bptf });
  const tradepost = new FakeTradePostServer({ host, port: config.ports.tradepost, apiKeys: [SIM_API_KEY], rejectAuth: config.rejectAuth });
  const commerce = new FakeCommerceServer({ host, port: config.ports.commerce, users: [SIM_USER] });
  const stopServers = async (): Promise<void> => {
    await Promise.all([bptf.stop(), tradepost.stop(), commerce.stop()]);
  };
  const started = await Promise.allSettled([bptf.start(), tradepost.start(), commerce.start()]);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopServers();
    throw failed.reason;
  }

  const env = [
    `BPTF_URL=${bptf.url}`,
    `TRADEPOST_URL=${tradepost.url}`,
    `TRADEPOST_API_KEY=${SIM_API_KEY}`,
    `COMMERCE_WS_URL=${commerce.wsUrl}`,
    `COMMERCE_LOGIN_URL=${commerce.loginUrl}`,
    `COMMERCE_USERNAME=${SIM_USER.email}`,
    `COMMERCE_PASSWORD=${SIM_USER.password}`,
  ].join('\n') + '\n';

  let wroteEnvFile = false;
  const removeEnvFile = (): void => {
    if (envFile === undefined || !wroteEnvFile) return;
    wroteEnvFile = false;
    // Another run may have replaced the file since (same --write-env path): leave that one alone.
    let current: string | undefined;
    try {
      current = readFileSync(envFile, 'utf8');
    } catch {
      return;
    }
    if (current === env) rmSync(envFile, { force: true });
  };

  if (envFile !== undefined) {
    try {
      writeAtomically(envFile, env);
    } catch (err) {
      await stopServers();
      throw err;
    }
    wroteEnvFile = true;
    log(`wrote ${envFile}`);
  }

  const traffic = startTraffic({ bptf, tradepost, commerce }, config.traffic, log);
  return {
    bptf,
    tradepost,
    commerce,
    traffic,
    env,
    removeEnvFile,
    async stop() {
      removeEnvFile();
      await traffic.stop();
      await stopServers();
    },
  };
}
