import { inject } from 'vitest';
import { createOwnedDatabaseOn, type OwnedDatabase } from './owned-database-core.js';

export type { OwnedDatabase } from './owned-database-core.js';

/** Roles and grants exist on a real server only. */
export function ownedDatabaseSupported(): boolean {
  return !inject('embedded');
}

/** A database owned by a role of its own, on the server the suite uses (see owned-database-core.ts). */
export function createOwnedDatabase(): Promise<OwnedDatabase> {
  return createOwnedDatabaseOn(inject('databaseUrl'));
}
