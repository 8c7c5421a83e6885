/**
 * SQL readers of the mirror, as a test builds them: a role, views, a materialized view, an index,
 * grants, row-level security with a policy, a trigger and comments on mirror tables — and a
 * reader that polls them on a connection of its own while the schema changes.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';

export const readerRole = () => `reader_${randomBytes(4).toString('hex')}`;

/** A client of its own on `url` (errors on an idle client are the test's to see, not a crash). */
export async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client(url);
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/**
 * Runs `fn` while `reader` loops over `queries` on its own connection; resolves with the errors it
 * got (none expected) and how many rounds it made.
 */
export async function whileReading(
  reader: pg.Client,
  queries: readonly string[],
  fn: () => Promise<void>,
): Promise<{ errors: string[]; rounds: number }> {
  let stop = false;
  const errors: string[] = [];
  let rounds = 0;
  const loop = (async () => {
    while (!stop) {
      for (const q of queries) {
        try {
          await reader.query(q);
        } catch (err) {
          errors.push(`${q}: ${(err as Error).message}`);
        }
      }
      rounds++;
    }
  })();
  try {
    await fn();
    // At least one whole round after the change too.
    const after = rounds;
    while (rounds < after + 1) await new Promise((r) => setTimeout(r, 1));
  } finally {
    stop = true;
    await loop;
  }
  return { errors, rounds };
}

/** What exists of a relation, by name: kind, and whether it has data (for a materialized view). */
export async function relation(db: Database, name: string) {
  const r = await db.query<{ kind: string; populated: boolean; oid: number }>(
    sql(
      `SELECT relkind::text AS kind, relispopulated AS populated, oid::int AS oid FROM pg_class
        WHERE oid = to_regclass($1)`,
      [name],
    ),
  );
  return r.rows[0];
}

export async function viewDef(db: Database, name: string): Promise<string> {
  const r = await db.query<{ d: string }>(sql('SELECT pg_get_viewdef(to_regclass($1)) AS d', [name]));
  return r.rows[0].d;
}

export async function indexesOf(db: Database, table: string): Promise<string[]> {
  const r = await db.query<{ n: string }>(
    sql(
      `SELECT c.relname AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = to_regclass($1) AND NOT i.indisprimary ORDER BY 1`,
      [table],
    ),
  );
  return r.rows.map((x) => x.n);
}

export async function policiesOf(db: Database, table: string): Promise<string[]> {
  const r = await db.query<{ n: string }>(
    sql('SELECT polname AS n FROM pg_policy WHERE polrelid = to_regclass($1) ORDER BY 1', [table]),
  );
  return r.rows.map((x) => x.n);
}

export async function triggersOf(db: Database, table: string): Promise<string[]> {
  const r = await db.query<{ n: string }>(
    sql(
      'SELECT tgname AS n FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY 1',
      [table],
    ),
  );
  return r.rows.map((x) => x.n);
}

export async function rowSecurity(db: Database, table: string): Promise<boolean> {
  const r = await db.query<{ rls: boolean }>(
    sql('SELECT relrowsecurity AS rls FROM pg_class WHERE oid = to_regclass($1)', [table]),
  );
  return r.rows[0]?.rls ?? false;
}

export async function canSelect(db: Database, role: string, relation: string): Promise<boolean> {
  const r = await db.query<{ ok: boolean }>(
    sql(`SELECT has_table_privilege($1, $2, 'SELECT') AS ok`, [role, relation]),
  );
  return r.rows[0].ok;
}

export async function comment(db: Database, name: string): Promise<string | null> {
  const r = await db.query<{ c: string | null }>(
    sql(`SELECT obj_description(to_regclass($1), 'pg_class') AS c`, [name]),
  );
  return r.rows[0].c;
}

/** Outbox rows after `afterId`, oldest first. */
export async function outboxSince(db: Database, afterId: number) {
  const r = await db.query<{
    id: string;
    op: string;
    origin: string;
    table_id: string | null;
    mirror_table: string | null;
    record_id: string | null;
    changed_columns: string[] | null;
    before: Record<string, unknown> | null;
    after: Record<string, unknown> | null;
  }>(
    sql(
      `SELECT id::text, op, origin, table_id, mirror_table, record_id, changed_columns, before, after
         FROM airmirror.outbox WHERE id > $1 ORDER BY id`,
      [afterId],
    ),
  );
  return r.rows;
}

export async function lastOutboxId(db: Database): Promise<number> {
  const r = await db.query<{ n: string }>(
    sql('SELECT coalesce(max(id), 0)::text AS n FROM airmirror.outbox'),
  );
  return Number(r.rows[0].n);
}
