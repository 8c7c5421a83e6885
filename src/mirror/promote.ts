/**
 * Swapping tables filled in `<schema>_swap` in for the live ones, in ONE short transaction
 * (invariant 2): readers see the old tables until the commit and the new ones after. What readers
 * built on the old tables is carried over in the same transaction (invariant 10, dependents.ts):
 * views and materialized views over them, indexes, constraints, row-level security and its
 * policies, triggers, grants, comments, and other tables' foreign keys to them — each made again
 * in a savepoint of its own, so one that cannot survive the change is reported, never a failure.
 *
 * Rows whose values the refill changed are announced like any other change (flow 5): before the
 * old table goes, one statement compares it with the new one and writes an outbox event per row
 * that differs (values compared as text, so a column retyped from numeric 5 to text '5' is no
 * change), inserted or deleted — except rows the proxy or a webhook wrote since the refill began,
 * which are fetched again right after (their events come from that write).
 */
import type { Database, Queryable } from '../db/database.ts';
import { quoteIdent, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { setTableRowCount } from '../bookkeeping/schema-state.ts';
import { sourceIdBySchema } from '../bookkeeping/sources.ts';
import { conflict } from '../errors.ts';
import { foreignTable, liveTableStatements, mirrorTableState } from './ddl.ts';
import { captureDependents, type LostObject } from './dependents.ts';
import { DDL_LOCK_TIMEOUT_MS } from './lock-retry.ts';
import { swapSchemaName } from './naming.ts';
import { qualifiedNames, restoreObjects, tablePropertyStatements } from './restore.ts';
import { saveMapping, saveTableMapping } from './store.ts';
import type { BaseMapping, TableMapping } from './types.ts';

export interface PromoteArgs {
  sourceId: string;
  schema: string;
  /** The swap tables to move in, as they are built (the layout after the change). */
  tables: readonly TableMapping[];
  /** The live tables they replace, by table id, as they are now (absent: a new table). */
  live: ReadonlyMap<string, TableMapping>;
  /** Live tables leaving the mirror in the same transaction (dropped when they are airmirror's). */
  drop?: readonly TableMapping[];
  /**
   * The whole layout to record (a base's first build, or promoteSwap); otherwise each promoted
   * table's own layout is recorded, at `positions`, with `hash` marking the layout as changing.
   */
  whole?: BaseMapping;
  positions?: ReadonlyMap<string, number>;
  hash?: string;
  /** Write change events for the rows the refill changed (not on a base's first build). */
  events: boolean;
  /** Rows fenced after this fence value get no event here: they are caught up after the promote. */
  since?: string;
  lockTimeoutMs?: number;
}

export interface PromoteResult {
  lost: LostObject[];
  /** Change events written, per table id. */
  events: Map<string, number>;
}

export async function promoteTables(db: Database, args: PromoteArgs): Promise<PromoteResult> {
  const { schema, sourceId } = args;
  const swap = swapSchemaName(schema);
  return db.tx(
    async (tx) => {
      await tx.query(sql(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`));
      // The live tables that go: the ones replaced (under their name now, and under the new name
      // if a table of ours is there) and the ones leaving; each only when it is airmirror's.
      const replaced = new Map<string, TableMapping>();
      const existing = new Map<string, TableMapping>();
      for (const t of args.tables) {
        const live = args.live.get(t.tableId);
        if (live && (await mirrorTableState(tx, schema, live.table, t.tableId)) === 'ours') {
          replaced.set(live.table, live);
          existing.set(t.tableId, live);
        }
        if (live?.table === t.table) continue;
        const state = await mirrorTableState(tx, schema, t.table, t.tableId);
        if (state === 'foreign') throw foreignTable(schema, t.table);
        if (state === 'ours') replaced.set(t.table, t);
      }
      for (const t of args.drop ?? []) {
        if ((await mirrorTableState(tx, schema, t.table, t.tableId)) === 'ours') replaced.set(t.table, t);
      }
      const result: PromoteResult = { lost: [], events: new Map() };
      await qualifiedNames(tx, async () => {
        const captured = await captureDependents(
          tx,
          [...replaced.keys()].map((table) => ({ schema, table })),
        );
        if (args.events) {
          for (const t of args.tables) {
            result.events.set(t.tableId, await writeRefillEvents(tx, args, t, existing.get(t.tableId)));
          }
        }
        const statements = [
          ...(replaced.size > 0
            ? [`DROP TABLE ${[...replaced.keys()].map((t) => quoteQualified(schema, t)).join(', ')} CASCADE`]
            : []),
          ...args.tables.map(
            (t) => `ALTER TABLE ${quoteQualified(swap, t.table)} SET SCHEMA ${quoteIdent(schema)}`,
          ),
          ...args.tables.flatMap((t) => liveTableStatements(schema, t.table)),
          // The grants and row security of the table each replaces, now on it.
          ...args.tables.flatMap((t) => {
            const from = captured.tables.find((p) => p.table === (existing.get(t.tableId)?.table ?? t.table));
            return from ? tablePropertyStatements({ ...from, table: t.table }) : [];
          }),
        ];
        await tx.query(sql(statements.join(';\n')));
        result.lost = await restoreObjects(tx, captured.objects);
      });
      if (args.whole) {
        await saveMapping(tx, sourceId, {
          ...args.whole,
          schema,
          tables: args.whole.tables.map((t) => ({ ...t, schema })),
        });
      } else {
        for (const t of args.tables) {
          await saveTableMapping(tx, sourceId, t, args.positions?.get(t.tableId) ?? 0, args.hash ?? '');
        }
      }
      for (const t of args.tables) {
        const n = await tx.query<{ n: string }>(
          sql(`SELECT count(*)::text AS n FROM ${quoteQualified(schema, t.table)}`),
        );
        await setTableRowCount(tx, sourceId, t.tableId, Number(n.rows[0].n));
      }
      if (await swapIsEmpty(tx, swap))
        await tx.query(sql(`DROP SCHEMA IF EXISTS ${quoteIdent(swap)} CASCADE`));
      return result;
    },
    { lockTimeoutMs: args.lockTimeoutMs ?? DDL_LOCK_TIMEOUT_MS },
  );
}

/** Whether airmirror's swap schema holds nothing more (only then is it dropped here). */
async function swapIsEmpty(q: Queryable, swap: string): Promise<boolean> {
  const r = await q.query<{ n: number }>(
    sql(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S')`,
      [swap],
    ),
  );
  return r.rows[0].n === 0;
}

/**
 * Outbox events for the rows a refill changed: the swap table against the live one, joined on
 * id. Columns are matched by Airtable field id (the live table has the names as they are now) and
 * compared as text. A new table (no live one) announces all its rows as inserted.
 */
async function writeRefillEvents(
  q: Queryable,
  args: PromoteArgs,
  next: TableMapping,
  old: TableMapping | undefined,
): Promise<number> {
  const swap = swapSchemaName(args.schema);
  const n = quoteQualified(swap, next.table);
  const values = [args.sourceId, next.tableId, args.schema, next.table, args.since ?? null];
  const insert = `INSERT INTO airmirror.outbox
      (source_id, table_id, mirror_schema, mirror_table, record_id, op, origin, before, after, changed_columns)`;
  const notify = `(SELECT count(*) FROM (SELECT pg_notify('airmirror_outbox', '') WHERE EXISTS (SELECT 1 FROM e)) x)`;
  const fenced = `SELECT f.record_id FROM airmirror.row_fence f
      WHERE f.source_id = $1 AND f.table_id = $2 AND $5::bigint IS NOT NULL AND f.fence > $5::bigint`;
  if (!old) {
    const r = await q.query<{ n: string }>(
      sql(
        `WITH e AS (${insert}
           SELECT $1, $2, $3, $4, s.id, 'insert', 'schema', NULL, to_jsonb(s.*), NULL FROM ${n} s
            WHERE s.id NOT IN (${fenced}) ORDER BY s.id RETURNING 1)
         SELECT count(*)::text AS n, ${notify} AS notified FROM e`,
        values,
      ),
    );
    return Number(r.rows[0].n);
  }
  const o = quoteQualified(args.schema, old.table);
  const was = new Map(old.columns.map((c) => [c.fieldId, c.column]));
  const pairs: [string | undefined, string][] = [
    ['created_time', 'created_time'],
    ...next.columns.map((c): [string | undefined, string] => [was.get(c.fieldId), c.column]),
  ];
  const oldText = (col: string | undefined) =>
    col === undefined ? 'NULL::text' : `o.${quoteIdent(col)}::text`;
  const newText = (col: string) => `n.${quoteIdent(col)}::text`;
  const changed = pairs.map(
    ([a, b]) => `CASE WHEN ${oldText(a)} IS DISTINCT FROM ${newText(b)} THEN ${literal(b)} END`,
  );
  const r = await q.query<{ n: string }>(
    sql(
      `WITH d AS (
         SELECT coalesce(n.id, o.id) AS id,
                CASE WHEN o.id IS NULL THEN 'insert' WHEN n.id IS NULL THEN 'delete' ELSE 'update' END AS op,
                CASE WHEN o.id IS NOT NULL THEN to_jsonb(o.*) END AS before,
                CASE WHEN n.id IS NOT NULL THEN to_jsonb(n.*) END AS after,
                CASE WHEN o.id IS NOT NULL AND n.id IS NOT NULL
                     THEN array_remove(ARRAY[${changed.join(', ')}]::text[], NULL) END AS changed
           FROM ${o} o FULL JOIN ${n} n ON n.id = o.id
          WHERE (o.id IS NULL OR n.id IS NULL
                 OR (${pairs.map(([a]) => oldText(a)).join(', ')}) IS DISTINCT FROM (${pairs.map(([, b]) => newText(b)).join(', ')}))
            AND coalesce(n.id, o.id) NOT IN (${fenced})
       ), e AS (${insert} SELECT $1, $2, $3, $4, id, op, 'schema', before, after, changed FROM d ORDER BY id RETURNING 1)
       SELECT count(*)::text AS n, ${notify} AS notified FROM e`,
      values,
    ),
  );
  return Number(r.rows[0].n);
}

/** A column name as a string literal inside statement text (a catalog name, never input). */
function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * Promotes a filled `<schema>_swap` holding every table of `mapping` (a rebuild of the whole base,
 * or its first build): the tables of `oldMapping` no longer in `mapping` are dropped (only
 * airmirror's), readers' objects are carried over, and the whole mapping is recorded. A new table
 * whose name a foreign table holds is a 409 and nothing changes. `sourceId` defaults to the
 * source whose schema_name is `schema`.
 */
export async function promoteSwap(
  db: Database,
  schema: string,
  mapping: BaseMapping,
  oldMapping: BaseMapping | undefined,
  opts: { sourceId?: string; lockTimeoutMs?: number; events?: boolean; since?: string } = {},
): Promise<PromoteResult> {
  const sourceId = opts.sourceId ?? (await sourceIdBySchema(db, schema));
  if (sourceId === undefined) throw conflict(`no source mirrors into schema ${schema}`, 'UNKNOWN_SOURCE');
  const kept = new Set(mapping.tables.map((t) => t.tableId));
  return promoteTables(db, {
    sourceId,
    schema,
    tables: mapping.tables,
    live: new Map((oldMapping?.tables ?? []).map((t) => [t.tableId, t])),
    drop: (oldMapping?.tables ?? []).filter((t) => !kept.has(t.tableId)),
    whole: mapping,
    events: opts.events ?? false,
    since: opts.since,
    lockTimeoutMs: opts.lockTimeoutMs,
  });
}
