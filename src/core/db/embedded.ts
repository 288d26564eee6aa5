import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { FatalError } from '../../errors.js';
import type { Logger } from '../../logger.js';

/**
 * The embedded database: PGlite (Postgres compiled to WebAssembly) with its files in
 * `DATA_DIR/pglite`, served on 127.0.0.1 by pglite-socket so the daemon talks to it through `pg`
 * exactly as to a real server (one code path) and users can `psql` into it.
 */
export interface EmbeddedPostgres {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; logger: Logger }): Promise<EmbeddedPostgres> {
  const dir = join(opts.dataDir, 'pglite');
  const fresh = !existsSync(join(dir, 'PG_VERSION'));
  await mkdir(dir, { recursive: true });
  const started = Date.now();
  // Said at once: creating a new database takes a few seconds, which would otherwise look like a hang.
  if (fresh) opts.logger.info({ dir }, 'creating the embedded database (first start in this DATA_DIR; a few seconds)');
  const db = await PGlite.create({ dataDir: dir });
  // PGlite runs one query at a time; several connections are allowed so `psql` can join the daemon.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: opts.port, maxConnections: 16 });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new FatalError('EMBEDDED_PG_PORT_IN_USE', `EMBEDDED_PG_PORT ${opts.port} is already in use by another process; set EMBEDDED_PG_PORT to a free port`);
    }
    throw error;
  }
  const port = Number(server.getServerConn().split(':').pop());
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  opts.logger.info({ dir, port, ms: Date.now() - started }, 'embedded database ready (PGlite)');
  return {
    url,
    port,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
