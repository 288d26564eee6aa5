/**
 * The shipping files, checked without a Docker engine: docker-compose.yml is parsed as YAML and
 * the Dockerfile line by line, and both are held against the configuration schema and the
 * compiled output (the project is compiled into a temporary directory, as `npm run build` would,
 * to prove that the CMD and the simulator command name files that exist).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SHUTDOWN_TIMEOUT_MS } from '../../src/app.js';
import { envSchema } from '../../src/config.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const schemaNames: readonly string[] = Object.keys(envSchema.shape);
const defaultHttpPort = envSchema.shape.HTTP_PORT.parse(undefined);

// --- docker-compose.yml -------------------------------------------------------------------------

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  env_file?: unknown;
  ports?: Array<string | number | { host_ip?: string; published?: string | number; target?: number }>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: Array<string | { target?: string }>;
  stop_grace_period?: string;
}

// `merge: true` resolves the `<<: *anchor` keys that Compose supports.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services?: Record<string, Service> };
const services: Record<string, Service> = compose.services ?? {};

/** Compose's `${VAR:-default}` interpolation, with every variable unset (a fresh checkout). */
const interpolate = (s: string) => s.replace(/\$\{[A-Z0-9_]+:?-([^}]*)\}/g, '$1');

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((kv) => [kv.split('=')[0] ?? '', kv.split('=').slice(1).join('=')]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v ?? ''))]));
}

function commandOf(service: Service): string[] {
  const c = service.command;
  return c === undefined ? [] : Array.isArray(c) ? c.map(String) : c.split(/\s+/);
}

/** Services that run the daemon: built from this repository's Dockerfile, with the image's CMD. */
const daemonServices = Object.entries(services).filter(([, s]) => s.build !== undefined && s.command === undefined);
const simulator = Object.entries(services).find(([, s]) => commandOf(s).some((a) => a.includes('simulator/main.js')));

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
}

/** Compose durations like "20s", "1m30s", "500ms", in ms. */
function durationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
  }
  return total;
}

// --- Dockerfile ---------------------------------------------------------------------------------

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly stage: number;
}

/** Instructions with continuation lines joined and comments dropped; `stage` counts FROMs from 0. */
function dockerfile(): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of read('Dockerfile').split(/\r?\n/)) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const [keyword = '', ...rest] = full.split(/\s+/);
    if (keyword.toUpperCase() === 'FROM') stage++;
    out.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), stage });
  }
  return out;
}

const instructions = dockerfile();
const finalStage = Math.max(...instructions.map((i) => i.stage));
const final = instructions.filter((i) => i.stage === finalStage);
const finalOne = (keyword: string) => final.filter((i) => i.keyword === keyword).at(-1);

// --- the compiled output ------------------------------------------------------------------------

let outDir = '';

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'tributary-compose-build-'));
  // `npm run build` with the output redirected, so the working tree's dist/ is left alone.
  await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: root });
}, 120_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

/** A path the image runs (relative to WORKDIR, under dist/) mapped into the temporary build. */
const built = (path: string) => {
  expect(path.startsWith('dist/'), `${path} is under dist/`).toBe(true);
  return join(outDir, path.slice('dist/'.length));
};

describe('docker-compose.yml', () => {
  it('has the postgres and tributary services', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['postgres', 'tributary']));
    expect(services.postgres?.image).toMatch(/^postgres:16\b/);
    expect(services.tributary?.build).toBeDefined();
    expect(daemonServices.map(([name]) => name)).toContain('tributary');
  });

  it('sets only schema variables on the daemon services', () => {
    for (const [name, service] of daemonServices) {
      const unknown = Object.keys(environmentOf(service)).filter((k) => !schemaNames.includes(k));
      expect(unknown, `${name}: environment keys that are not in envSchema`).toEqual([]);
    }
  });

  it('gives the daemon services a valid configuration that reaches the compose postgres', () => {
    for (const [name, service] of daemonServices) {
      const env = environmentOf(service);
      const parsed = envSchema.safeParse(env);
      expect(parsed.error?.issues ?? [], `${name}: environment passes envSchema`).toEqual([]);
      expect(new URL(env.DATABASE_URL ?? 'postgres://missing').hostname, `${name}: DATABASE_URL host`).toBe('postgres');
      expect(env.HTTP_HOST, `${name}: listens beyond loopback inside its container`).toBe('0.0.0.0');
      // .env (copied from .env.example) says DATA_DIR=./data; the compose value must win.
      expect(env.DATA_DIR, `${name}: DATA_DIR is the mounted volume`).toBe('/data');
      const mounts = (service.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target));
      expect(mounts, `${name}: a volume on /data`).toContain('/data');
    }
  });

  it('reads .env when present without requiring it', () => {
    const envFile = services.tributary?.env_file;
    const entries = Array.isArray(envFile) ? envFile : [envFile];
    expect(entries).toContainEqual({ path: '.env', required: false });
  });

  it('publishes every port on 127.0.0.1 only', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) {
        const hostIp = typeof port === 'object' ? port.host_ip : String(port).split(':')[0];
        expect(hostIp, `${name}: port ${JSON.stringify(port)}`).toBe('127.0.0.1');
      }
    }
  });

  it('health-checks postgres, the daemons and the simulator', () => {
    const checked = ['postgres', ...daemonServices.map(([n]) => n), ...(simulator ? [simulator[0]] : [])];
    for (const name of checked) {
      const hc = services[name]?.healthcheck;
      expect(hc?.test, `${name}: healthcheck`).toBeDefined();
      expect(hc?.disable ?? false).toBe(false);
    }
    expect(String(services.postgres?.healthcheck?.test)).toContain('pg_isready');
    for (const [name, service] of daemonServices) {
      expect(String(service.healthcheck?.test), `${name}: probes /healthz`).toContain('/healthz');
    }
  });

  it('starts the daemons only once postgres is healthy', () => {
    for (const [name, service] of daemonServices) {
      const deps = service.depends_on;
      expect(deps && !Array.isArray(deps) ? deps.postgres?.condition : undefined, `${name}: depends_on postgres`).toBe('service_healthy');
    }
  });

  it('lets the daemons finish their graceful stop before Docker kills them', () => {
    for (const [name, service] of daemonServices) {
      expect(durationMs(service.stop_grace_period ?? '10s'), `${name}: stop_grace_period`).toBeGreaterThan(SHUTDOWN_TIMEOUT_MS);
    }
  });

  describe('demo profile', () => {
    it('runs the simulator from the same image, bound to 0.0.0.0 on fixed ports', () => {
      expect(simulator, 'a service running dist/src/simulator/main.js').toBeDefined();
      const [, sim] = simulator ?? ['', {} as Service];
      expect(sim.profiles).toContain('demo');
      expect(sim.build).toEqual(services.tributary?.build);
      const args = commandOf(sim);
      expect(args[0]).toBe('node');
      expect(flag(args, '--host')).toBe('0.0.0.0');
      for (const f of ['--bptf-port', '--tradepost-port', '--commerce-port']) {
        expect(Number(flag(args, f)), f).toBeGreaterThan(0);
      }
    });

    it("runs a simulator file that the build emits", () => {
      const script = commandOf(simulator?.[1] ?? {}).find((a) => a.endsWith('.js')) ?? '';
      expect(existsSync(built(script)), `${script} after the build`).toBe(true);
    });

    it('points a demo daemon at the simulator, with no real credentials', () => {
      const [simName, sim] = simulator ?? ['', {} as Service];
      const args = commandOf(sim);
      const demo = daemonServices.filter(([, s]) => s.profiles?.includes('demo'));
      expect(demo.length, 'a daemon service in the demo profile').toBe(1);
      const [name, service] = demo[0] ?? ['', {} as Service];
      const env = environmentOf(service);
      expect(env.BPTF_URL, `${name}: BPTF_URL`).toBe(`ws://${simName}:${flag(args, '--bptf-port')}/events`);
      expect(env.TRADEPOST_URL, `${name}: TRADEPOST_URL`).toBe(`ws://${simName}:${flag(args, '--tradepost-port')}/ws`);
      expect(env.COMMERCE_WS_URL, `${name}: COMMERCE_WS_URL`).toBe(`ws://${simName}:${flag(args, '--commerce-port')}/ws`);
      expect(env.COMMERCE_LOGIN_URL, `${name}: COMMERCE_LOGIN_URL`).toBe(`http://${simName}:${flag(args, '--commerce-port')}/api/auth/login`);
      expect(env.TRADEPOST_API_KEY).toBeTruthy();
      // Its own database, so simulated rows never mix with real ones.
      expect(new URL(env.DATABASE_URL ?? 'postgres://x/').pathname).not.toBe(
        new URL(environmentOf(services.tributary ?? {}).DATABASE_URL ?? 'postgres://x/').pathname,
      );
      // Its own spool volume: two daemons must never share one.
      const volumeOf = (s: Service) => (s.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0] : '')).join();
      expect(volumeOf(service)).not.toBe(volumeOf(services.tributary ?? {}));
    });
  });
});

describe('Dockerfile', () => {
  it('is multi-stage on node 20 bookworm-slim', () => {
    const froms = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^node:20-bookworm-slim\b/);
  });

  it('copies into the build every source tsconfig.build.json compiles, and builds and prunes', () => {
    const buildConfig = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    const copied = instructions
      .filter((i) => i.stage === 0 && i.keyword === 'COPY')
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining([...buildConfig.include, 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']));
    const runs = instructions.filter((i) => i.stage === 0 && i.keyword === 'RUN').map((i) => i.args).join('\n');
    expect(runs).toContain('npm ci');
    expect(runs).toContain('npm run build');
    expect(runs).toContain('npm prune --omit=dev');
  });

  it("exposes the schema's default HTTP_PORT", () => {
    expect(finalOne('EXPOSE')?.args.split(/\s+/).map((p) => Number(p.split('/')[0]))).toEqual([defaultHttpPort]);
  });

  it('sets only schema variables (and NODE_ENV) in the image', () => {
    const names = final.filter((i) => i.keyword === 'ENV').flatMap((i) => [...i.args.matchAll(/([A-Z][A-Z0-9_]*)=/g)].map((m) => m[1] ?? ''));
    expect(names).toEqual(expect.arrayContaining(['NODE_ENV', 'DATA_DIR', 'HTTP_HOST']));
    expect(names.filter((n) => n !== 'NODE_ENV' && !schemaNames.includes(n))).toEqual([]);
  });

  it('runs as a non-root user', () => {
    const user = finalOne('USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
  });

  it('has a HEALTHCHECK on /healthz and stops with SIGTERM', () => {
    expect(finalOne('HEALTHCHECK')?.args).toContain('/healthz');
    expect(finalOne('STOPSIGNAL')?.args).toBe('SIGTERM');
  });

  it('runs node directly (exec form) on the compiled entry point, which the build emits', () => {
    const cmd = JSON.parse(finalOne('CMD')?.args ?? 'null') as string[];
    expect(cmd).toEqual(['node', 'dist/src/main.js']);
    expect(existsSync(built(cmd[1] ?? '')), `${cmd[1]} after the build`).toBe(true);
  });

  it('keeps the sources it copies out of .dockerignore', () => {
    const ignored = read('.dockerignore').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const path of ['src', 'migrations', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(ignored, path).not.toContain(path);
    }
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.env', '.git']));
  });
});
