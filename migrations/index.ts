import type { Migration } from 'kysely';
import * as initial from './2026_11_23_001_initial.js';

/**
 * Every migration, by name, in the order they apply. Listed in code (not read from the folder at run
 * time) so that the same list works from TypeScript sources in tests and from the compiled image.
 * Add a new file with a later date prefix and list it here.
 */
export const migrations: Record<string, Migration> = {
  '2026_11_23_001_initial': initial,
};
