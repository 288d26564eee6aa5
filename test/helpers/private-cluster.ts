import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

/**
 * A Postgres cluster of a test's own, made with the server's own tools (initdb, pg_ctl) in a temp
 * directory: for what a shared test database cannot do (password authentication, roles, a server
 * restart, a streaming replica). Runs as the `postgres` OS user when the tests run as root (initdb
 * refuses root), else as the current user. The superuser `postgres` connects over the cluster's own
 * Unix socket without a password; TCP on 127.0.0.1 asks for a scram-sha-256 password.
 */

const run = promisify(execFile);

export interface PrivateClusterOptions {
  /** Extra initdb arguments (e.g. `['--data-checksums']`). */
  readonly initdbArgs?: readonly string[];
  /** postgresql.conf settings, appended after the defaults below (so they win). */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  /** pg_hba.conf lines added after the defaults (local trust, host scram-sha-256 from 127.0.0.1). */
  readonly hba?: readonly string[];
  /** TCP port; default a free one. */
  readonly port?: number;
}

/** Why a private cluster cannot start here (tools or OS user missing), or undefined when it can. */
export function privateClusterUnavailable(): string | undefined {
  if (!binDir()) return 'no Postgres server tools (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or on PATH';
  if (process.getuid?.() === 0) {
    if (osUser('postgres') === undefined) return 'running as root and there is no "postgres" OS user to run initdb as';
    if (!existsSync('/usr/sbin/runuser') && !existsSync('/sbin/runuser')) return 'running as root and runuser is missing';
  }
  return undefined;
}

/** The newest installed server's bin directory (the one holding initdb and pg_ctl). */
function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  return undefined;
}

function osUser(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , uid, gid] = line.split(':');
      if (user === name) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // no /etc/passwd: no such user
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class PrivateCluster {
  /** The stopped state: stop() was called (or start failed). */
  #stopped = false;

  private constructor(
    /** Temp directory: `data/` (the cluster), the Unix socket and `server.log`. Removed by stop(). */
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly asPostgres: boolean,
  ) {}

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** initdb, the configuration, pg_ctl start (waits until it accepts connections). */
  static async start(opts: PrivateClusterOptions = {}): Promise<PrivateCluster> {
    const why = privateClusterUnavailable();
    if (why) throw new Error(`cannot start a private Postgres cluster: ${why}`);
    const bin = binDir() as string;
    const asPostgres = process.getuid?.() === 0;
    const dir = mkdtempSync(join(tmpdir(), 'tributary-pg-'));
    if (asPostgres) {
      const user = osUser('postgres') as { uid: number; gid: number };
      chownSync(dir, user.uid, user.gid);
    }
    const cluster = new PrivateCluster(dir, opts.port ?? (await freePort()), bin, asPostgres);
    try {
      await cluster.#tool('initdb', ['-D', cluster.dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', ...(opts.initdbArgs ?? [])]);
      cluster.#configure(opts.settings);
      const hba = ['local all all trust', 'local replication all trust', 'host all all 127.0.0.1/32 scram-sha-256', 'host replication all 127.0.0.1/32 scram-sha-256', ...(opts.hba ?? [])];
      writeFileSync(join(cluster.dataDir, 'pg_hba.conf'), `${hba.join('\n')}\n`);
      await cluster.#startServer();
    } catch (err) {
      await cluster.stop().catch(() => undefined);
      throw err;
    }
    return cluster;
  }

  /**
   * A physical streaming standby of `primary` (hot standby: it answers reads, refuses writes with
   * 25006): pg_basebackup over TCP as `replication.user` (a REPLICATION role; the password goes through
   * PGPASSWORD, never on a command line), -R so it starts as a standby that streams from the
   * primary (-R writes the connection settings, password included, to postgresql.auto.conf), then
   * started on a port of its own. The primary needs wal_level replica (the default)
   * and a free WAL sender; its pg_hba.conf already lets replication connections in from 127.0.0.1.
   */
  static async standbyOf(primary: PrivateCluster, replication: { readonly user: string; readonly password: string }, opts: Pick<PrivateClusterOptions, 'settings' | 'port'> = {}): Promise<PrivateCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-pg-standby-'));
    if (primary.asPostgres) {
      const user = osUser('postgres') as { uid: number; gid: number };
      chownSync(dir, user.uid, user.gid);
    }
    const cluster = new PrivateCluster(dir, opts.port ?? (await freePort()), primary.bin, primary.asPostgres);
    try {
      // -c fast: a spread checkpoint on the primary would hold the copy back for minutes.
      await cluster.#tool(
        'pg_basebackup',
        ['-h', '127.0.0.1', '-p', String(primary.port), '-U', replication.user, '-D', cluster.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync', '-w'],
        { PGPASSWORD: replication.password },
      );
      // The copy carries the primary's postgresql.conf (its port and socket directory): these win.
      cluster.#configure(opts.settings);
      await cluster.#startServer();
    } catch (err) {
      await cluster.stop().catch(() => undefined);
      throw err;
    }
    return cluster;
  }

  /** A TCP URL (password authentication) for `user` on `database`. */
  url(user: string, password?: string, database = 'postgres'): string {
    const auth = password === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    return `postgres://${auth}@127.0.0.1:${this.port}/${database}`;
  }

  /** A pg client settings object for the superuser over the Unix socket (no password). */
  superuser(database = 'postgres'): pg.ClientConfig {
    return { host: this.dir, port: this.port, user: 'postgres', database };
  }

  /** Runs `sql` as the superuser with psql (ON_ERROR_STOP); resolves to its unaligned, tuples-only output. */
  async psql(sql: string, database = 'postgres'): Promise<string> {
    const { stdout } = await this.#tool('psql', ['-h', this.dir, '-p', String(this.port), '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-X', '-A', '-t', '-c', sql]);
    return stdout.trim();
  }

  /** Runs `sql` as the superuser over a pg connection of its own; resolves to the rows. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<R[]> {
    const client = new pg.Client(this.superuser(database));
    await client.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  /** The server's log so far (to explain a failure). */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** pg_ctl promote: a standby becomes a primary; resolves once it accepts writes. */
  async promote(): Promise<void> {
    await this.#tool('pg_ctl', ['-D', this.dataDir, '-w', '-t', '60', 'promote']);
  }

  /**
   * pg_ctl stop, keeping the directory (a failover's old primary): `fast` ends the sessions and
   * shuts down cleanly (a standby receives all the WAL first); `immediate` is a crash.
   */
  async stopServer(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.#tool('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '30', 'stop']);
  }

  /** pg_ctl stop (fast: ends sessions), then removes the directory. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      if (existsSync(join(this.dataDir, 'postmaster.pid'))) await this.#tool('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** Appends the defaults below and `extra` (which win) to postgresql.conf. */
  #configure(extra: PrivateClusterOptions['settings']): void {
    const settings: Record<string, string | number | boolean> = {
      port: this.port,
      listen_addresses: '127.0.0.1',
      unix_socket_directories: this.dir,
      password_encryption: 'scram-sha-256',
      // A test cluster: losing it in a host crash costs nothing, and fsync costs seconds on a busy disk.
      fsync: false,
      ...extra,
    };
    appendFileSync(join(this.dataDir, 'postgresql.conf'), `\n${Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v)}`).join('\n')}\n`);
  }

  /** pg_ctl start; waits until it accepts connections. */
  async #startServer(): Promise<void> {
    await this.#tool('pg_ctl', ['-D', this.dataDir, '-l', join(this.dir, 'server.log'), '-w', '-t', '60', 'start']);
  }

  /** One of the server's tools, as the `postgres` OS user when we are root (runuser keeps the environment, so `env` reaches it). */
  #tool(name: string, args: readonly string[], env?: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
    const path = join(this.bin, name);
    const [file, argv] = this.asPostgres ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, [...args]];
    return run(file, argv, { cwd: this.dir, maxBuffer: 16 * 1024 * 1024, ...(env && { env: { ...process.env, ...env } }) }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`${name} failed: ${err.message.split('\n')[0]}${err.stderr ? `\n${err.stderr}` : ''}`);
    });
  }
}
