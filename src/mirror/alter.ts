/**
 * Schema changes made in place (docs/schema-changes.md): `ALTER TABLE` where Postgres can — add,
 * drop and rename columns, rename tables, retype a column by a lossless cast — each table in a
 * short transaction of its own that waits for its lock at most DDL_LOCK_TIMEOUT_MS and is retried
 * (lock-retry.ts), so readers are never held up for long. Postgres keeps readers' views, indexes,
 * policies, triggers and grants through renames and added columns by itself; for a dropped or
 * retyped column, what depends on it is captured first and made again afterwards, and what cannot
 * survive (a view selecting the dropped column) is left out and reported — the change goes on.
 */
import type { Database, Queryable } from '../db/database.ts';
import { quoteIdent, quoteLiteral, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { columnComment, foreignTable, mirrorTableState, tableComment } from './ddl.ts';
import { captureDependents, type LostObject } from './dependents.ts';
import { isNotNullBoolean } from './pg-types.ts';
import { missingObjects, qualifiedNames, restoreObjects } from './restore.ts';
import type { TablePlan } from './schema-diff.ts';
import { forgetTableColumns, saveTableMapping } from './store.ts';
import type { ColumnMapping, TableMapping } from './types.ts';
import { DDL_LOCK_TIMEOUT_MS } from './lock-retry.ts';
import { markTableGone } from '../bookkeeping/table-config.ts';
import { setFillPending } from '../bookkeeping/schema-state.ts';
import { setSchemaHash } from '../bookkeeping/sources.ts';

/** The layout a table has once its in-place part is done: a column awaiting a refill keeps its old type. */
export function interimTable(plan: TablePlan): TableMapping {
  const next = plan.next!;
  const refilled = new Map(plan.retyped.filter((r) => r.how === 'refill').map((r) => [r.to.fieldId, r.from]));
  if (refilled.size === 0) return next;
  return {
    ...next,
    columns: next.columns.map((c) => {
      const from = refilled.get(c.fieldId);
      return from ? { ...c, airtableType: from.airtableType, pgType: from.pgType, field: from.field } : c;
    }),
  };
}

/**
 * Renames the mirror tables of a base whose Airtable name changed, in one transaction: through
 * temporary names when one takes a name another is leaving. A relation of the target name that
 * is not one of these tables is refused (a 409 naming it).
 */
export async function renameTables(
  db: Database,
  schema: string,
  wanted: readonly { tableId: string; from: string; to: string }[],
): Promise<void> {
  if (wanted.length === 0) return;
  await db.tx(
    async (q) => {
      // A mirror table that is missing (dropped by hand) is not renamed: its change in place fails
      // and the table is filled again under its new name.
      const present: { tableId: string; from: string; to: string }[] = [];
      for (const r of wanted) {
        const state = await mirrorTableState(q, schema, r.from, r.tableId);
        if (state === 'foreign') throw foreignTable(schema, r.from);
        if (state === 'ours') present.push(r);
      }
      const renames = present;
      if (renames.length === 0) return;
      const leaving = new Set(renames.map((r) => r.from));
      for (const r of renames) {
        if (!leaving.has(r.to) && (await mirrorTableState(q, schema, r.to, r.tableId)) !== 'none') {
          throw foreignTable(schema, r.to);
        }
      }
      const twoSteps = renames.some((r) => leaving.has(r.to));
      const statements: string[] = [];
      renames.forEach((r, i) => {
        const via = twoSteps ? `airmirror_rename_${i}` : r.to;
        statements.push(`ALTER TABLE ${quoteQualified(schema, r.from)} RENAME TO ${quoteIdent(via)}`);
      });
      if (twoSteps) {
        renames.forEach((r, i) =>
          statements.push(
            `ALTER TABLE ${quoteQualified(schema, `airmirror_rename_${i}`)} RENAME TO ${quoteIdent(r.to)}`,
          ),
        );
      }
      await q.query(sql(statements.join(';\n')));
    },
    { lockTimeoutMs: DDL_LOCK_TIMEOUT_MS },
  );
}

/**
 * One table's change in place (its name already follows, renameTables): columns dropped, renamed,
 * retyped by cast, added, comments, and its stored layout (`saveTableMapping`, with `hash` marking
 * the source's layout as changing), all in one transaction. Resolves with the reader objects it
 * could not keep. Throws on a lock it could not get in time (retry it) or on what Postgres
 * refuses (the caller fills the table again instead).
 */
export async function alterTable(
  db: Database,
  args: { sourceId: string; schema: string; plan: TablePlan; position: number; hash: string },
): Promise<LostObject[]> {
  const { sourceId, schema, plan } = args;
  const old = plan.old!;
  const next = interimTable(plan);
  const rel = quoteQualified(schema, next.table);
  return db.tx(
    async (q) => {
      const state = await mirrorTableState(q, schema, next.table, next.tableId);
      if (state === 'foreign') throw foreignTable(schema, next.table);
      if (state === 'none') throw new Error(`mirror table ${schema}.${next.table} is missing`);
      const casts = plan.retyped.filter((r) => r.how === 'cast');
      const destructive = plan.dropped.length > 0 || casts.length > 0;
      let lost: LostObject[] = [];
      await qualifiedNames(q, async () => {
        const captured = destructive
          ? await captureDependents(q, [{ schema, table: next.table }])
          : undefined;
        // A column Postgres retypes must have no view, policy or trigger on it: those are dropped
        // here and made again below (or reported when they cannot be).
        for (const r of casts) await dropDependentsOfColumn(q, schema, next.table, r.from.column);
        const statements = [
          ...plan.dropped.map((c) => `ALTER TABLE ${rel} DROP COLUMN ${quoteIdent(c.column)} CASCADE`),
          ...renameColumns(rel, plan),
          ...casts.map((r) => castColumn(rel, r.from, r.to)),
          ...plan.added.map(
            (c) =>
              `ALTER TABLE ${rel} ADD COLUMN ${quoteIdent(c.column)} ${c.pgType}` +
              (isNotNullBoolean(c.airtableType) ? ' NOT NULL DEFAULT false' : ''),
          ),
          ...comments(rel, old, next),
        ];
        if (statements.length > 0) await q.query(sql(statements.join(';\n')));
        if (captured) lost = await restoreObjects(q, await missingObjects(q, captured.objects));
      });
      await saveTableMapping(q, sourceId, next, args.position, args.hash);
      if (plan.fill && !plan.refill) await setFillPending(q, sourceId, [next.tableId], true);
      return lost;
    },
    { lockTimeoutMs: DDL_LOCK_TIMEOUT_MS },
  );
}

/**
 * Column renames, through temporary names when one takes a name another is leaving (two fields
 * swapping names).
 */
function renameColumns(rel: string, plan: TablePlan): string[] {
  const renames = plan.renamedColumns;
  if (renames.length === 0) return [];
  const leaving = new Set(renames.map((r) => r.from));
  const twoSteps = renames.some((r) => leaving.has(r.to.column));
  if (!twoSteps) {
    return renames.map(
      (r) => `ALTER TABLE ${rel} RENAME COLUMN ${quoteIdent(r.from)} TO ${quoteIdent(r.to.column)}`,
    );
  }
  return [
    ...renames.map(
      (r, i) =>
        `ALTER TABLE ${rel} RENAME COLUMN ${quoteIdent(r.from)} TO ${quoteIdent(`airmirror_rename_${i}`)}`,
    ),
    ...renames.map(
      (r, i) =>
        `ALTER TABLE ${rel} RENAME COLUMN ${quoteIdent(`airmirror_rename_${i}`)} TO ${quoteIdent(r.to.column)}`,
    ),
  ];
}

/** `ALTER COLUMN … TYPE … USING` for a lossless cast (retype.ts); a checkbox's NOT NULL goes first. */
function castColumn(rel: string, from: ColumnMapping, to: ColumnMapping): string {
  const col = quoteIdent(to.column);
  const loosen = isNotNullBoolean(from.airtableType)
    ? `ALTER COLUMN ${col} DROP DEFAULT, ALTER COLUMN ${col} DROP NOT NULL, `
    : '';
  return `ALTER TABLE ${rel} ${loosen}ALTER COLUMN ${col} TYPE ${to.pgType} USING ${col}::${to.pgType}`;
}

/** Comments that name an Airtable name or type that changed (the mapping's, never a reader's). */
function comments(rel: string, old: TableMapping, next: TableMapping): string[] {
  const out: string[] = [];
  if (old.tableName !== next.tableName)
    out.push(`COMMENT ON TABLE ${rel} IS ${quoteLiteral(tableComment(next))}`);
  const before = new Map(old.columns.map((c) => [c.fieldId, c]));
  for (const c of next.columns) {
    const b = before.get(c.fieldId);
    if (b && b.fieldName === c.fieldName && b.airtableType === c.airtableType) continue;
    out.push(`COMMENT ON COLUMN ${rel}.${quoteIdent(c.column)} IS ${quoteLiteral(columnComment(c))}`);
  }
  return out;
}

/** Views, policies and triggers that depend on one column (they are made again after the change). */
async function dropDependentsOfColumn(
  q: Queryable,
  schema: string,
  table: string,
  column: string,
): Promise<void> {
  const r = await q.query<{ statement: string }>(
    sql(
      `WITH col AS (
         SELECT a.attrelid, a.attnum FROM pg_attribute a
          WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped
       ), dep AS (
         SELECT d.classid, d.objid FROM pg_depend d, col
          WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = col.attrelid AND d.refobjsubid = col.attnum
       )
       SELECT DISTINCT format('DROP %s IF EXISTS %s CASCADE',
                CASE c.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, c.oid::regclass) AS statement
         FROM dep JOIN pg_rewrite rw ON dep.classid = 'pg_rewrite'::regclass AND rw.oid = dep.objid
         JOIN pg_class c ON c.oid = rw.ev_class, col WHERE c.oid <> col.attrelid
       UNION ALL
       SELECT format('DROP POLICY IF EXISTS %I ON %s', p.polname, p.polrelid::regclass)
         FROM dep JOIN pg_policy p ON dep.classid = 'pg_policy'::regclass AND p.oid = dep.objid
       UNION ALL
       SELECT format('DROP TRIGGER IF EXISTS %I ON %s', t.tgname, t.tgrelid::regclass)
         FROM dep JOIN pg_trigger t ON dep.classid = 'pg_trigger'::regclass AND t.oid = dep.objid
        WHERE NOT t.tgisinternal`,
      [quoteQualified(schema, table), column],
    ),
  );
  for (const x of r.rows) await q.query(sql(x.statement));
}

/**
 * A table leaves the mirror (deleted in Airtable, or excluded by the operator): its mirror table
 * is dropped — only when it is airmirror's — with what readers built on it, which is reported;
 * its row stays (`vanished_at` when deleted), its columns are forgotten.
 */
export async function dropTable(
  db: Database,
  args: { sourceId: string; schema: string; table: TableMapping; excluded: boolean; hash: string },
): Promise<LostObject[]> {
  const { sourceId, schema, table } = args;
  return db.tx(
    async (q) => {
      const state = await mirrorTableState(q, schema, table.table, table.tableId);
      let lost: LostObject[] = [];
      if (state === 'ours') {
        await qualifiedNames(q, async () => {
          const captured = await captureDependents(q, [{ schema, table: table.table }]);
          await q.query(sql(`DROP TABLE ${quoteQualified(schema, table.table)} CASCADE`));
          const why = args.excluded ? 'excluded from the mirror' : 'deleted in Airtable';
          lost = (await missingObjects(q, captured.objects)).map((o) => ({
            kind: o.kind,
            name: o.name,
            dropped: true,
            reason: `its table ${schema}.${table.table} was dropped (${why})`,
          }));
        });
      }
      await markTableGone(q, sourceId, table.tableId, !args.excluded);
      await forgetTableColumns(q, sourceId, table.tableId);
      await setSchemaHash(q, sourceId, args.hash);
      return lost;
    },
    { lockTimeoutMs: DDL_LOCK_TIMEOUT_MS },
  );
}
