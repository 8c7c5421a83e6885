import type { Queryable } from '../db/database.ts';
import { quoteIdent, quoteLiteral, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { conflict, type AirmirrorError } from '../errors.ts';
import { swapSchemaName } from './naming.ts';
import { isNotNullBoolean } from './pg-types.ts';
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
 * airmirror's own objects on a table once it is live (made with the table, never carried over as a
 * reader's): the promote runs these for every table it moves in — the direct-write guard
 * (src/mirror/write-guard.ts). Swap tables go without it: they are filled with COPY.
 */
export function liveTableStatements(schema: string, table: string): string[] {
  return guardTriggerStatements(schema, table);
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

/**
 * The comment that marks a `<schema>_swap` schema as airmirror's: only a schema carrying it is
 * ever dropped (invariant 10). A schema of that name without it is someone else's, and a rebuild
 * is refused with an error naming it.
 */
const SWAP_MARK = 'airmirror swap schema';
export function swapComment(schema: string): string {
  return `${SWAP_MARK} of ${JSON.stringify(schema)}: tables rebuilt from Airtable wait here until they are swapped in; airmirror drops it`;
}

/** A `<schema>_swap` of someone else's is in the way. */
export function foreignSwapSchema(swap: string, schema: string): AirmirrorError {
  return conflict(
    `schema "${swap}" exists and was not created by airmirror (it has no "${SWAP_MARK}" comment); airmirror ` +
      `needs that name to rebuild tables of "${schema}" and never drops what it did not create: rename or drop it`,
    'FOREIGN_SWAP_SCHEMA',
    { schema: swap },
  );
}

/** Whether `<schema>_swap` exists, and whether it is airmirror's. */
async function swapState(q: Queryable, swap: string): Promise<'none' | 'ours' | 'foreign'> {
  const r = await q.query<{ c: string | null }>(
    sql(`SELECT obj_description(oid, 'pg_namespace') AS c FROM pg_namespace WHERE nspname = $1`, [swap]),
  );
  if (r.rowCount === 0) return 'none';
  return r.rows[0].c?.startsWith(SWAP_MARK) ? 'ours' : 'foreign';
}

function swapStatements(schema: string, swap: string, drop: boolean): string[] {
  return [
    ...(drop ? [`DROP SCHEMA ${quoteIdent(swap)} CASCADE`] : []),
    `CREATE SCHEMA ${quoteIdent(swap)}`,
    `COMMENT ON SCHEMA ${quoteIdent(swap)} IS ${quoteLiteral(swapComment(schema))}`,
  ];
}

/** Drops a leftover `<schema>_swap` of airmirror's and creates it empty, for a rebuild to fill. */
export async function prepareSwapSchema(q: Queryable, schema: string): Promise<string> {
  const swap = swapSchemaName(schema);
  const state = await swapState(q, swap);
  if (state === 'foreign') throw foreignSwapSchema(swap, schema);
  await q.query(sql(swapStatements(schema, swap, state === 'ours').join(';\n')));
  return swap;
}

/**
 * A rebuild's start: drops a leftover `<schema>_swap` of airmirror's (a foreign one is refused),
 * creates it and the tables of `mapping` in it with their comments, as one multi-statement
 * simple query (which Postgres runs as one implicit transaction: all of it or none). Returns the
 * swap schema's name.
 */
export async function buildSwapSchema(q: Queryable, schema: string, mapping: BaseMapping): Promise<string> {
  const swap = swapSchemaName(schema);
  const state = await swapState(q, swap);
  if (state === 'foreign') throw foreignSwapSchema(swap, schema);
  const statements = [
    ...swapStatements(schema, swap, state === 'ours'),
    ...mapping.tables.flatMap((t) => createTableStatements(t, swap)),
  ];
  await q.query(sql(statements.join(';\n')));
  return swap;
}

/**
 * Drops a `<schema>_swap` left behind by a crashed rebuild. Returns whether there was one of
 * airmirror's; a foreign one is left alone (and a rebuild will say so).
 */
export async function cleanupSwap(q: Queryable, schema: string): Promise<boolean> {
  const swap = swapSchemaName(schema);
  if ((await swapState(q, swap)) !== 'ours') return false;
  await q.query(sql(`DROP SCHEMA IF EXISTS ${quoteIdent(swap)} CASCADE`));
  return true;
}

/**
 * Whether `schema.table` is the mirror table of Airtable table `tableId` — its comment, which
 * airmirror writes with the table, names it. airmirror alters, drops or replaces nothing else.
 * 'none' when there is no relation of that name.
 */
export async function mirrorTableState(
  q: Queryable,
  schema: string,
  table: string,
  tableId: string,
): Promise<'none' | 'ours' | 'foreign'> {
  const r = await q.query<{ c: string | null; kind: string }>(
    sql(
      `SELECT obj_description(c.oid, 'pg_class') AS c, c.relkind::text AS kind
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
      [schema, table],
    ),
  );
  if (r.rowCount === 0) return 'none';
  const { c, kind } = r.rows[0];
  return kind === 'r' && c?.startsWith('Airtable table ') && c.endsWith(`(${tableId})`) ? 'ours' : 'foreign';
}

/** A table airmirror would change is not its own. */
export function foreignTable(schema: string, table: string): AirmirrorError {
  return conflict(
    `table ${schema}.${table} exists and is not an airmirror table; rename it or choose another schema`,
    'MIRROR_TABLE_CONFLICT',
    { schema, table },
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
