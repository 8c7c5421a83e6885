import { sourceIdBySchema } from '../bookkeeping/sources.ts';
import type { Database, Queryable } from '../db/database.ts';
import { quoteIdent, quoteLiteral, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { conflict } from '../errors.ts';
import { adoptableTables } from './adopt.ts';
import { swapSchemaName } from './naming.ts';
import { isNotNullBoolean } from './pg-types.ts';
import { saveMapping } from './store.ts';
import type { BaseMapping, TableMapping } from './types.ts';
import { guardTriggerStatements, WRITER_SET_CONFIG } from './write-guard.ts';

/** `COMMENT ON` text for a mirror table (docs/DESIGN.md "Mirror layout"). */
export function tableComment(t: Pick<TableMapping, 'tableName' | 'tableId'>): string {
  return `Airtable table ${JSON.stringify(t.tableName)} (${t.tableId})`;
}

/** `COMMENT ON` text for a field column, e.g. `Airtable field "Created Time" (fld…), createdTime`. */
export function columnComment(c: { fieldName: string; fieldId: string; airtableType: string }): string {
  return `Airtable field ${JSON.stringify(c.fieldName)} (${c.fieldId}), ${c.airtableType}`;
}

/** The statements that create one mirror table with its comments, in `schema`. */
export function createTableStatements(t: TableMapping, schema: string): string[] {
  const name = quoteQualified(schema, t.table);
  const cols = [
    'id text PRIMARY KEY',
    'created_time timestamptz NOT NULL',
    ...t.columns.map(
      (c) =>
        `${quoteIdent(c.column)} ${c.pgType}${isNotNullBoolean(c.airtableType) ? ' NOT NULL DEFAULT false' : ''}`,
    ),
  ];
  // COMMENT takes no parameters: the texts go through quoteLiteral.
  return [
    `CREATE TABLE IF NOT EXISTS ${name} (${cols.join(', ')})`,
    `COMMENT ON TABLE ${name} IS ${quoteLiteral(tableComment(t))}`,
    `COMMENT ON COLUMN ${name}.id IS ${quoteLiteral(`Airtable record id (${t.tableId})`)}`,
    `COMMENT ON COLUMN ${name}.created_time IS ${quoteLiteral('Airtable record createdTime')}`,
    ...t.columns.map(
      (c) => `COMMENT ON COLUMN ${name}.${quoteIdent(c.column)} IS ${quoteLiteral(columnComment(c))}`,
    ),
  ];
}

/**
 * Creates the schema and every table of `mapping` (with comments) in `opts.schema` (default
 * `mapping.schema`; the syncer passes `<schema>_swap` for rebuilds). Existing tables are left as
 * they are. Run it inside a transaction to make it all-or-nothing.
 */
export async function createMirrorTables(
  q: Queryable,
  mapping: BaseMapping,
  opts: { schema?: string } = {},
): Promise<void> {
  const schema = opts.schema ?? mapping.schema;
  await q.query(sql(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`));
  // Live tables get the direct-write guard; swap tables get it when they are promoted.
  const live = schema === mapping.schema;
  for (const t of mapping.tables) {
    const guard = live ? guardTriggerStatements(schema, t.table) : [];
    await q.query(sql([...createTableStatements(t, schema), ...guard].join(';\n')));
  }
}

/** Drops any leftover `<schema>_swap` and creates it empty, for a rebuild to fill. */
export async function prepareSwapSchema(q: Queryable, schema: string): Promise<string> {
  const swap = swapSchemaName(schema);
  await q.query(sql(`DROP SCHEMA IF EXISTS ${quoteIdent(swap)} CASCADE`));
  await q.query(sql(`CREATE SCHEMA ${quoteIdent(swap)}`));
  return swap;
}

/**
 * A rebuild's start in ONE round trip: drops any leftover `<schema>_swap`, creates it and every
 * table of `mapping` in it with their comments, as one multi-statement simple query (which
 * Postgres runs as one implicit transaction: all of it or none). Returns the swap schema's name.
 * Same statements as prepareSwapSchema + createMirrorTables, which cost a round trip each.
 */
export async function buildSwapSchema(q: Queryable, schema: string, mapping: BaseMapping): Promise<string> {
  const swap = swapSchemaName(schema);
  const statements = [
    `DROP SCHEMA IF EXISTS ${quoteIdent(swap)} CASCADE`,
    `CREATE SCHEMA ${quoteIdent(swap)}`,
    ...mapping.tables.flatMap((t) => createTableStatements(t, swap)),
  ];
  await q.query(sql(statements.join(';\n')));
  return swap;
}

/** Drops a `<schema>_swap` left behind by a crashed rebuild. Returns whether there was one. */
export async function cleanupSwap(q: Queryable, schema: string): Promise<boolean> {
  const swap = swapSchemaName(schema);
  const r = await q.query(sql('SELECT 1 FROM pg_namespace WHERE nspname = $1', [swap]));
  if (r.rowCount === 0) return false;
  await q.query(sql(`DROP SCHEMA IF EXISTS ${quoteIdent(swap)} CASCADE`));
  return true;
}

async function existingTables(q: Queryable, schema: string): Promise<Set<string>> {
  const r = await q.query<{ relname: string }>(
    sql(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
      [schema],
    ),
  );
  return new Set(r.rows.map((x) => x.relname));
}

/**
 * Promotes a filled `<schema>_swap` into `<schema>` in ONE short transaction (invariant 2):
 * drops this base's old mirror tables (only those named by `oldMapping` — airmirror never drops a
 * table it did not create), moves every swap table in with `ALTER TABLE … SET SCHEMA`, drops the
 * swap schema and saves the mapping. Readers keep the old tables until commit; a query waiting on
 * the lock re-resolves the name afterwards and reads the new table. A new table whose name is
 * taken by a foreign table in `<schema>` is a 409 and nothing changes.
 * `sourceId` defaults to the source whose schema_name is `schema`.
 */
export async function promoteSwap(
  db: Database,
  schema: string,
  mapping: BaseMapping,
  oldMapping: BaseMapping | undefined,
  opts: { sourceId?: string; lockTimeoutMs?: number; onlyTables?: ReadonlySet<string> } = {},
): Promise<void> {
  const swap = swapSchemaName(schema);
  // A resync swaps in only its tables (Airtable ids); the mapping saved is the whole base's.
  const only = opts.onlyTables;
  const swapped = only ? mapping.tables.filter((t) => only.has(t.tableId)) : mapping.tables;
  const replaced = only ? (oldMapping?.tables ?? []).filter((t) => only.has(t.tableId)) : oldMapping?.tables;
  await db.tx(
    async (tx) => {
      let sourceId = opts.sourceId;
      if (sourceId === undefined) {
        sourceId = await sourceIdBySchema(tx, schema);
        if (sourceId === undefined)
          throw conflict(`no source mirrors into schema ${schema}`, 'UNKNOWN_SOURCE');
      }
      await tx.query(sql(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`));
      // Ours: the tables the stored mapping names, and those the catalog shows airmirror built for
      // these same Airtable tables under a mapping since deleted (a source created again, adopt.ts).
      const ours = new Set([
        ...(replaced ?? []).map((t) => t.table),
        ...(await adoptableTables(tx, schema, { ...mapping, tables: swapped })),
      ]);
      const present = await existingTables(tx, schema);
      for (const t of swapped) {
        if (present.has(t.table) && !ours.has(t.table)) {
          throw conflict(
            `table ${schema}.${t.table} exists and is not an airmirror table; rename it or choose another schema`,
            'MIRROR_TABLE_CONFLICT',
            { schema, table: t.table },
          );
        }
      }
      // The swap itself as one multi-statement query (one round trip, in this transaction): the old
      // tables dropped, the new ones moved in, the swap schema dropped.
      const drops = [...ours].filter((name) => present.has(name));
      const swapStatements = [
        ...(drops.length > 0 ? [`DROP TABLE ${drops.map((n) => quoteQualified(schema, n)).join(', ')}`] : []),
        ...swapped.map(
          (t) => `ALTER TABLE ${quoteQualified(swap, t.table)} SET SCHEMA ${quoteIdent(schema)}`,
        ),
        // The direct-write guard, now that they are live (src/mirror/write-guard.ts).
        ...mapping.tables.flatMap((t) => guardTriggerStatements(schema, t.table)),
        `DROP SCHEMA ${quoteIdent(swap)} CASCADE`,
      ];
      await tx.query(sql(swapStatements.join(';\n')));
      await saveMapping(tx, sourceId, {
        ...mapping,
        schema,
        tables: mapping.tables.map((t) => ({ ...t, schema })),
      });
    },
    { lockTimeoutMs: opts.lockTimeoutMs },
  );
}

/**
 * Empties a mirror table (the API's delete-data) if it exists; true when it did. An operator
 * emptying the mirror is not a change in Airtable, so this writes no change events — the next
 * sync re-imports the rows (as inserts).
 */
export async function emptyMirrorTable(q: Queryable, schema: string, table: string): Promise<boolean> {
  const name = quoteQualified(schema, table);
  const exists = await q.query<{ r: string | null }>(sql('SELECT to_regclass($1) AS r', [name]));
  if (!exists.rows[0]?.r) return false;
  // As airmirror's own write (the direct-write guard, src/mirror/write-guard.ts), in one round trip.
  await q.query(sql(`SELECT ${WRITER_SET_CONFIG}; TRUNCATE ${name}`));
  return true;
}

/**
 * Drops a source's mirror schema (a source deleted with drop_data) — only when nothing else lives
 * there (RESTRICT fails otherwise): never someone else's tables.
 */
export async function dropMirrorSchema(q: Queryable, schema: string): Promise<void> {
  await q.query(sql(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)}`));
}

/** Empties a rebuild's copy of a table in `<schema>_swap` (its listing restarts from page one). */
export async function emptySwapTable(q: Queryable, swapSchema: string, table: string): Promise<void> {
  await q.query(sql(`TRUNCATE ${quoteQualified(swapSchema, table)}`));
}

/** Drops a mirror table if it exists (a source deleted with drop_data). */
export async function dropMirrorTable(q: Queryable, schema: string, table: string): Promise<void> {
  await q.query(sql(`DROP TABLE IF EXISTS ${quoteQualified(schema, table)}`));
}
