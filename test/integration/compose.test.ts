/**
 * The shipping files, checked without a Docker engine: docker-compose.yml is parsed as YAML and
 * the Dockerfile line by line, and both are held against the configuration schema and the
 * compiled output (dist/, which the suite's set-up brings up to date as `npm run build` would, to
 * prove that the CMD and the simulator command name files that exist). Where the Docker CLI
 * with the Compose plugin is installed, `docker compose config` (which needs no engine) also
 * resolves the file as Compose itself does, with and without a .env; without it those tests skip.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SHUTDOWN_TIMEOUT_MS } from '../../src/app.js';
import { envSchema } from '../../src/config.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const schemaNames: readonly string[] = Object.keys(envSchema.shape);
const defaultHttpPort = envSchema.shape.HTTP_PORT.parse(undefined);
const defaultEmbeddedPgPort = envSchema.shape.EMBEDDED_PG_PORT.parse(undefined);

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
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  tmpfs?: string | string[];
  hostname?: string;
  init?: boolean;
  stop_grace_period?: string;
}

// `merge: true` resolves the `<<: *anchor` keys that Compose supports.
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services?: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services: Record<string, Service> = compose.services ?? {};
const namedVolumes = Object.keys(compose.volumes ?? {});

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

/**
 * A short-syntax port "IP:HOST:CONTAINER" whose host side is either a number or `${VAR:-default}`
 * (`variable` then names VAR). Undefined for any other form.
 */
type Port = NonNullable<Service['ports']>[number];
function portMapping(port: Port): { ip: string; variable: string | undefined; hostDefault: number; target: number } | undefined {
  if (typeof port === 'object') return undefined;
  const m = /^([\d.]+):(?:\$\{([A-Z][A-Z0-9_]*):-(\d+)\}|(\d+)):(\d+)(?:\/tcp)?$/.exec(String(port));
  if (!m) return undefined;
  return { ip: m[1] ?? '', variable: m[2], hostDefault: Number(m[3] ?? m[4]), target: Number(m[5]) };
}

/** Container paths a service mounts, split into named volumes/binds, tmpfs mounts and anonymous volumes. */
function mountsOf(service: Service): { persistent: string[]; tmpfs: string[]; anonymous: string[] } {
  const persistent: string[] = [];
  const tmpfs: string[] = [];
  const anonymous: string[] = [];
  for (const v of service.volumes ?? []) {
    if (typeof v === 'string') {
      const parts = v.split(':');
      // "/path" alone is an anonymous volume; "name:/path" or "./dir:/path" is not.
      if (parts.length === 1) anonymous.push(parts[0] ?? '');
      else persistent.push(parts[1] ?? '');
    } else if (v.type === 'tmpfs') {
      tmpfs.push(v.target ?? '');
    } else if ((v.type ?? 'volume') === 'volume' && !v.source) {
      anonymous.push(v.target ?? '');
    } else {
      persistent.push(v.target ?? '');
    }
  }
  const t = service.tmpfs;
  for (const entry of t === undefined ? [] : Array.isArray(t) ? t : [t]) tmpfs.push(entry.split(':')[0] ?? '');
  return { persistent, tmpfs, anonymous };
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
/** The final stage's ENV settings, later ones winning (values without quotes or spaces, as this Dockerfile writes them). */
const imageEnv: Record<string, string> = Object.fromEntries(
  final.filter((i) => i.keyword === 'ENV').flatMap((i) => [...i.args.matchAll(/([A-Z][A-Z0-9_]*)=(\S*)/g)].map((m) => [m[1] ?? '', m[2] ?? ''])),
);

// --- the compiled output ------------------------------------------------------------------------

/** A path the image runs (relative to WORKDIR, under dist/) in the suite's build (test/global-setup.ts). */
const built = (path: string) => {
  expect(path.startsWith('dist/'), `${path} is under dist/`).toBe(true);
  return join(root, path);
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

  describe('HTTP port', () => {
    it("pins the port inside every daemon container to the schema's default, over .env", () => {
      // `environment:` wins over env_file, so HTTP_PORT in .env cannot move the listener away
      // from the port the mapping and the healthcheck use.
      for (const [name, service] of daemonServices) {
        expect(environmentOf(service).HTTP_PORT, `${name}: environment HTTP_PORT`).toBe(String(defaultHttpPort));
      }
    });

    it('publishes that container port on a host port from a variable: tributary from HTTP_PORT', () => {
      const mappings = daemonServices.map(([name, service]) => {
        expect(service.ports?.length, `${name}: one published port`).toBe(1);
        const mapping = portMapping(service.ports?.[0] ?? '');
        expect(mapping, `${name}: "127.0.0.1:\${VAR:-port}:port" (got ${JSON.stringify(service.ports?.[0])})`).toBeDefined();
        expect(mapping?.target, `${name}: container port`).toBe(defaultHttpPort);
        expect(mapping?.variable, `${name}: the host port comes from a variable`).toBeDefined();
        return { name, ...mapping };
      });
      // Setting HTTP_PORT in .env (read by Compose for interpolation) moves tributary's published port.
      const tributary = mappings.find((m) => m.name === 'tributary');
      expect(tributary?.variable).toBe('HTTP_PORT');
      expect(tributary?.hostDefault).toBe(defaultHttpPort);
      // Every daemon has its own variable and its own default, so none collide out of the box.
      expect(new Set(mappings.map((m) => m.variable)).size).toBe(mappings.length);
      expect(new Set(mappings.map((m) => m.hostDefault)).size).toBe(mappings.length);
    });

    it('health-checks the port the daemon listens on', () => {
      for (const [name, service] of daemonServices) {
        const test = String(service.healthcheck?.test);
        const port = environmentOf(service).HTTP_PORT;
        expect(test.includes('process.env.HTTP_PORT') || test.includes(`:${port}/`), `${name}: probes HTTP_PORT ${port}`).toBe(true);
      }
    });
  });

  it('gives every daemon a fixed host name, so its default INSTANCE_ID ("<host name>-<pid>") survives recreation', () => {
    // Without one the host name is the container id, new for each container. The pid is 1 while
    // node is the container's first process (exec-form CMD, checked below, and no `init: true`).
    const names = daemonServices.map(([name, service]) => {
      expect(service.hostname, `${name}: hostname`).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      expect(service.init ?? false, `${name}: no init process in front of node`).toBe(false);
      return service.hostname;
    });
    expect(new Set(names).size, 'host names differ').toBe(names.length);
  });

  it('leaves no anonymous volume behind: every VOLUME of an image is mounted over', () => {
    // VOLUME paths the images declare: the official postgres:16 image declares its data directory;
    // the tributary image's are whatever its Dockerfile declares.
    const dockerfileVolumes = final.filter((i) => i.keyword === 'VOLUME').flatMap((i) => i.args.replace(/[[\]",]/g, ' ').split(/\s+/).filter(Boolean));
    const imageVolumes = (s: Service) =>
      s.build !== undefined ? dockerfileVolumes : /^postgres:/.test(s.image ?? '') ? ['/var/lib/postgresql/data'] : [];
    for (const [name, service] of Object.entries(services)) {
      const { persistent, tmpfs, anonymous } = mountsOf(service);
      expect(anonymous, `${name}: anonymous volumes in volumes:`).toEqual([]);
      for (const path of imageVolumes(service)) {
        expect([...persistent, ...tmpfs], `${name}: ${path} (a VOLUME of its image) is mounted over`).toContain(path);
      }
      for (const v of service.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0] ?? '' : v.source ?? '';
        if (/^[a-z0-9][a-z0-9_.-]*$/i.test(source)) expect(namedVolumes, `${name}: volume ${source} is declared`).toContain(source);
      }
    }
    // The one-shot demo-db client keeps nothing: a tmpfs, not a named volume, covers its data directory.
    const demoDb = Object.entries(services).find(([, s]) => /^postgres:/.test(s.image ?? '') && s.profiles?.includes('demo'));
    if (demoDb) expect(mountsOf(demoDb[1]).tmpfs, `${demoDb[0]}: tmpfs`).toContain('/var/lib/postgresql/data');
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

  it('uses no BuildKit-only syntax, so the classic builder builds it too', () => {
    // Engines before 23.0 build with the classic builder by default, which rejects `RUN --mount`
    // and the like. A `# syntax=` directive would make BuildKit pull a frontend image first.
    expect(read('Dockerfile')).not.toMatch(/^#\s*syntax\s*=/im);
    // The flags the classic builder knows, per instruction.
    const classic: Record<string, readonly string[]> = {
      FROM: ['--platform'],
      COPY: ['--from', '--chown'],
      ADD: ['--chown'],
      HEALTHCHECK: ['--interval', '--timeout', '--start-period', '--retries'],
    };
    for (const i of instructions) {
      const flags: string[] = [];
      for (const word of i.args.split(/\s+/)) {
        if (!word.startsWith('--')) break;
        flags.push(word.split('=')[0] ?? '');
      }
      const unknown = flags.filter((f) => !(classic[i.keyword] ?? []).includes(f));
      expect(unknown, `${i.keyword} ${i.args}`).toEqual([]);
      // Heredocs (RUN <<EOF) are BuildKit-only too.
      expect(i.args, `${i.keyword}: heredoc`).not.toMatch(/(^|\s)<<-?['"]?[A-Za-z_]/);
    }
  });

  it("exposes the schema's default HTTP_PORT and EMBEDDED_PG_PORT, and nothing else", () => {
    const exposed = final.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.split('/')[0])));
    expect(exposed).toEqual([defaultHttpPort, defaultEmbeddedPgPort]);
  });

  it('listens beyond loopback inside its container, HTTP and the embedded database, so `docker run -p` reaches both', () => {
    expect(imageEnv.HTTP_HOST).toBe('0.0.0.0');
    expect(imageEnv.EMBEDDED_PG_HOST).toBe('0.0.0.0');
    expect(envSchema.safeParse(imageEnv).error?.issues ?? [], 'the image environment passes envSchema').toEqual([]);
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

// --- README.md's Docker section -----------------------------------------------------------------

/** Semantic-version comparison of "a.b.c" strings (missing parts are 0). */
function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

describe("README.md's Docker section", () => {
  const readme = read('README.md');
  const start = readme.search(/^### With Docker\s*$/m);
  // From the line after the heading to the next "##" or "###" heading ("# …" lines are shell comments).
  const rest = readme.slice(readme.indexOf('\n', start) + 1);
  const end = rest.search(/^#{2,3} /m);
  const section = end === -1 ? rest : rest.slice(0, end);

  it('states the Docker Engine and Compose versions it needs, old enough for neither file to break', () => {
    expect(start, 'README.md has a "### With Docker" section').toBeGreaterThanOrEqual(0);
    const engine = /Docker Engine (\d+\.\d+(?:\.\d+)?) or newer/.exec(section)?.[1];
    const composeVersion = /Docker Compose v?(\d+\.\d+(?:\.\d+)?) or newer/.exec(section)?.[1];
    expect(engine, 'the Engine version').toBeDefined();
    expect(composeVersion, 'the Compose version').toBeDefined();
    // Multi-stage builds and HEALTHCHECK --start-period need Engine 17.05.
    expect(versionAtLeast(engine ?? '0', '17.5'), `Engine ${engine}`).toBe(true);
    // Compose v2 reads this file; `env_file` entries with `required:` need 2.24.0.
    const optionalEnvFile = Object.values(services).some((s) => JSON.stringify(s.env_file ?? null).includes('"required"'));
    expect(versionAtLeast(composeVersion ?? '0', optionalEnvFile ? '2.24.0' : '2.0.0'), `Compose ${composeVersion}`).toBe(true);
  });

  it('names every variable that moves a published port', () => {
    const variables = Object.values(services).flatMap((s) => (s.ports ?? []).map((p) => portMapping(p)?.variable).filter((v) => v !== undefined));
    expect(variables.length).toBeGreaterThan(0);
    for (const v of variables) expect(section, v).toContain(`\`${v}\``);
  });
});

// --- the same file resolved by Compose itself (no engine needed) ---------------------------------

/** The Docker CLI's environment for these runs: none of the caller's COMPOSE_* settings or variables. */
const cliEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? tmpdir(),
  ...(process.env.DOCKER_CONFIG ? { DOCKER_CONFIG: process.env.DOCKER_CONFIG } : {}),
  ...extra,
});
const hasComposeCli = await run('docker', ['compose', 'version'], { env: cliEnv(), timeout: 10_000 }).then(
  () => true,
  () => false,
);

interface ResolvedService {
  hostname?: string;
  environment?: Record<string, string | null>;
  ports?: Array<{ host_ip?: string; published?: string; target?: number }>;
  tmpfs?: string[];
}

describe.skipIf(!hasComposeCli)('docker compose config', () => {
  /**
   * `docker compose --profile demo config` on a copy of docker-compose.yml in a fresh directory,
   * so that the checkout's own .env plays no part; `dotEnv` becomes that directory's .env.
   */
  async function resolve(dotEnv: string | undefined, shell: Record<string, string> = {}): Promise<Record<string, ResolvedService>> {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-compose-config-'));
    try {
      copyFileSync(join(root, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
      if (dotEnv !== undefined) writeFileSync(join(dir, '.env'), dotEnv);
      const { stdout } = await run('docker', ['compose', '--profile', 'demo', 'config', '--format', 'json'], {
        cwd: dir,
        env: cliEnv(shell),
        timeout: 30_000,
      });
      return (JSON.parse(stdout) as { services: Record<string, ResolvedService> }).services;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const published = (s: ResolvedService | undefined) => s?.ports?.map((p) => `${p.host_ip}:${p.published}:${p.target}`);

  it('publishes the defaults with no .env', async () => {
    const resolved = await resolve(undefined);
    expect(published(resolved.tributary)).toEqual([`127.0.0.1:${defaultHttpPort}:${defaultHttpPort}`]);
    expect(resolved.tributary?.environment?.HTTP_PORT).toBe(String(defaultHttpPort));
    expect(resolved.tributary?.hostname).toBe(services.tributary?.hostname);
  });

  it('moves the published port with HTTP_PORT in .env, keeping the container port and .env INSTANCE_ID', async () => {
    const resolved = await resolve('HTTP_PORT=18080\nDEMO_HTTP_PORT=18081\nINSTANCE_ID=from-dot-env\n');
    expect(published(resolved.tributary)).toEqual([`127.0.0.1:18080:${defaultHttpPort}`]);
    // env_file read HTTP_PORT=18080 too, but `environment:` wins inside the container.
    expect(resolved.tributary?.environment?.HTTP_PORT).toBe(String(defaultHttpPort));
    expect(resolved.tributary?.environment?.INSTANCE_ID).toBe('from-dot-env');
    expect(published(resolved['tributary-demo'])).toEqual([`127.0.0.1:18081:${defaultHttpPort}`]);
  });

  it('moves it with HTTP_PORT from the shell alone too, which never reaches the container', async () => {
    const resolved = await resolve(undefined, { HTTP_PORT: '18082' });
    expect(published(resolved.tributary)).toEqual([`127.0.0.1:18082:${defaultHttpPort}`]);
    expect(resolved.tributary?.environment?.HTTP_PORT).toBe(String(defaultHttpPort));
  });

  it('publishes the stack\'s Postgres on 5432, or on POSTGRES_PORT from .env or the shell, never moving the daemon\'s own URL', async () => {
    const daemonUrl = (await resolve(undefined)).tributary?.environment?.DATABASE_URL;
    expect(published((await resolve(undefined)).postgres)).toEqual(['127.0.0.1:5432:5432']);
    const fromDotEnv = await resolve('POSTGRES_PORT=35432\n');
    expect(published(fromDotEnv.postgres)).toEqual(['127.0.0.1:35432:5432']);
    // Inside the network the daemon still reaches Postgres on its own port.
    expect(fromDotEnv.tributary?.environment?.DATABASE_URL).toBe(daemonUrl);
    expect(daemonUrl).toMatch(/@postgres:5432\//);
    expect(published((await resolve(undefined, { POSTGRES_PORT: '35433' })).postgres)).toEqual(['127.0.0.1:35433:5432']);
  });

  it('mounts a tmpfs over the demo-db data directory', async () => {
    const resolved = await resolve(undefined);
    expect(resolved['demo-db']?.tmpfs ?? []).toContain('/var/lib/postgresql/data');
  });
});
