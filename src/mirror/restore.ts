/**
 * Making reader objects again after a schema change (dependents.ts captured them): in the change's
 * transaction, each in a savepoint of its own, so one that cannot survive the change is left out
 * and reported and never stops the others or the change (docs/schema-changes.md).
 */
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import { REL, type LostObject, type ReaderObject, type TableProperties } from './dependents.ts';

/** Runs `fn` with every name in deparsed texts schema-qualified (see the file comment). */
export async function qualifiedNames<T>(q: Queryable, fn: () => Promise<T>): Promise<T> {
  const saved = await q.query<{ p: string }>(
    sql(`SELECT current_setting('search_path') AS p, set_config('search_path', 'pg_catalog, pg_temp', true)`),
  );
  // A failure aborts the transaction, which undoes the setting with everything else.
  const result = await fn();
  await q.query(sql(`SELECT set_config('search_path', $1, true)`, [saved.rows[0].p]));
  return result;
}

/** Which of `objects` no longer exist (dropped by a change, with CASCADE or with their table). */
export async function missingObjects(
  q: Queryable,
  objects: readonly ReaderObject[],
): Promise<ReaderObject[]> {
  if (objects.length === 0) return [];
  const r = await q.query<{ oid: number; catalog: string }>(
    sql(
      `SELECT oid::int AS oid, 'pg_class' AS catalog FROM pg_class WHERE oid = ANY($1::oid[])
       UNION ALL SELECT oid::int, 'pg_policy' FROM pg_policy WHERE oid = ANY($1::oid[])
       UNION ALL SELECT oid::int, 'pg_trigger' FROM pg_trigger WHERE oid = ANY($1::oid[])
       UNION ALL SELECT oid::int, 'pg_constraint' FROM pg_constraint WHERE oid = ANY($1::oid[])`,
      [objects.map((o) => o.oid)],
    ),
  );
  const alive = new Set(r.rows.map((x) => `${x.catalog}:${x.oid}`));
  return objects.filter((o) => !alive.has(`${o.catalog}:${o.oid}`));
}

/**
 * A replacement table gets what the old one had: grants and row-level security flags (its
 * policies, triggers and indexes are objects of their own).
 */
export function tablePropertyStatements(p: TableProperties): string[] {
  const rel = REL(p);
  return [
    ...p.grants,
    ...(p.rowSecurity ? [`ALTER TABLE ${rel} ENABLE ROW LEVEL SECURITY`] : []),
    ...(p.forceRowSecurity ? [`ALTER TABLE ${rel} FORCE ROW LEVEL SECURITY`] : []),
  ];
}

/**
 * Makes `objects` again, in their order, each in a savepoint of its own: one that cannot be made
 * (a view selecting a column Airtable deleted) is left out and reported, and never stops the
 * others or the change. Call inside `qualifiedNames`, in the transaction of the change.
 */
export async function restoreObjects(q: Queryable, objects: readonly ReaderObject[]): Promise<LostObject[]> {
  const lost: LostObject[] = [];
  const sorted = [...objects].sort((a, b) => a.order - b.order);
  const gone = new Map<number, ReaderObject>();
  for (const o of sorted) {
    const parent = o.parent === undefined ? undefined : gone.get(o.parent);
    if (parent) {
      lost.push({
        kind: o.kind,
        name: o.name,
        dropped: true,
        reason: `its ${parent.kind} ${parent.name} is gone`,
      });
      continue;
    }
    const err = await inSavepoint(q, o.create);
    if (err) {
      gone.set(o.oid, o);
      lost.push({ kind: o.kind, name: o.name, dropped: true, reason: err });
      continue;
    }
    for (const extra of o.extras) {
      const e = await inSavepoint(q, extra);
      if (e)
        lost.push({
          kind: o.kind,
          name: o.name,
          dropped: false,
          reason: `kept, but "${extra}" failed: ${e}`,
        });
    }
  }
  return lost;
}

/** Runs one statement in a savepoint; the error message when it failed (rolled back to it). */
export async function inSavepoint(q: Queryable, statement: string): Promise<string | undefined> {
  await q.query(sql('SAVEPOINT airmirror_object'));
  try {
    await q.query(sql(statement));
    await q.query(sql('RELEASE SAVEPOINT airmirror_object'));
    return undefined;
  } catch (err) {
    await q.query(sql('ROLLBACK TO SAVEPOINT airmirror_object'));
    await q.query(sql('RELEASE SAVEPOINT airmirror_object'));
    return (err as Error).message;
  }
}
