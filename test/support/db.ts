import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';

export interface TestDatabase {
  db: Database;
  /** Connection URL of this file's own database. */
  url: string;
  name: string;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(inject('postgresUrl'));
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A fresh database of its own for the calling test file, migrated unless `migrate: false`,
 * dropped after the file's tests. Call at module level or in `beforeAll`.
 */
export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(inject('postgresUrl'), name);
  const db = createDatabase(url, { max: 5 });
  if (opts.migrate !== false) await migrate(db);
  afterAll(async () => {
    await db.close();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });
  return { db, url, name };
}

/** A connected client of its own on `db` (outside the pool), for session state in a test; end() it. */
export async function connectClient(db: Database): Promise<pg.Client> {
  const c = db.dedicatedClient();
  c.on('error', () => undefined);
  await c.connect();
  return c;
}
