import { describe, expect, it } from 'vitest';
import { pgConnection } from '../../src/core/db/pg-connection.js';

describe('pgConnection', () => {
  it('without a password source: the URL as pg takes it', () => {
    expect(pgConnection('postgres://app:pw@db:5432/x')).toEqual({ connectionString: 'postgres://app:pw@db:5432/x' });
  });

  it("with one: the URL's settings, its password replaced by the source (pg would let a connectionString's win)", async () => {
    const source = async () => 'from-file';
    const c = pgConnection('postgres://app:url-pw@db:6543/x?application_name=probe&options=-c%20search_path%3Dpublic', source);
    expect(c.connectionString).toBeUndefined();
    expect(c).toMatchObject({ user: 'app', host: 'db', port: 6543, database: 'x', application_name: 'probe', options: '-c search_path=public' });
    expect(c.password).toBe(source);
    expect(JSON.stringify(c)).not.toContain('url-pw');
  });
});
