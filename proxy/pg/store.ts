/**
 * Every SQL text the endpoint runs on a client's session. A write to a mirror table is answered
 * by Postgres itself, on the client's own session and with its privileges:
 * - `check`: EXPLAIN of the client's statement as written — Postgres' own errors for privileges
 *   (table and column), unknown names and values that cannot be assigned, without running it;
 * - `resolve`: a read that finds the rows and computes their new values with the statement's own
 *   expressions (WHERE, SET, VALUES, INSERT … SELECT, FROM/USING, WITH), each cast to its column's
 *   type, every row as one JSON value (`row_to_json`: ISO dates whatever the DateStyle);
 * - `returning`: after Airtable answered and the mirror applied it, the statement's RETURNING
 *   list read back from the mirror rows by id (DELETE reads it in `resolve`, before the rows go).
 * Fragments of the client's statement are put back into SQL by pgsql-deparser from the parse
 * tree; identifiers the endpoint adds go through quoteIdent.
 */
import { Deparser } from 'pgsql-deparser';
import { quoteIdent } from '../../src/db/quote.ts';
import { CREATED_TIME_COLUMN, isComputedType, RECORD_ID_COLUMN } from '../../src/mirror/reverse.ts';
import type { ColumnMapping, TableMapping } from '../../src/mirror/types.ts';
import type { DmlStatement, Node } from './classify.ts';
import { PgError, SQLSTATE } from './errors.ts';

export interface WritePlan {
  kind: DmlStatement['kind'];
  table: TableMapping;
  /** Columns written, in the order of the values of each resolved row (after the id for UPDATE). */
  columns: ColumnMapping[];
  check: string;
  /** undefined: INSERT … DEFAULT VALUES (one row, nothing to compute). */
  resolve?: string;
  /** INSERT/UPDATE with RETURNING: the read after the apply; `$idsParam` is the text[] of ids. */
  returning?: string;
  idsParam: number;
  /** DELETE with RETURNING: resolve's rows are `id, <returning list>`. */
  deleteReturning: boolean;
  paramCount: number;
}

const d = (node: Node): string => Deparser.deparse(node, { pretty: false });

/** The text[] type, for the ids parameter of the RETURNING read. */
export const TEXT_ARRAY_OID = 1009;

/** The session settings a write depends on, read with the check (docs/postgres-endpoint.md). */
export const SETTINGS_SQL = `SELECT current_setting('airmirror.transaction_writes', true),
  current_setting('airmirror.typecast', true), current_setting('transaction_read_only'),
  current_setting('transaction_isolation')`;

/** The schema an unqualified table name resolves to on the session (search_path, temp tables). */
export const RESOLVE_NAME_SQL = `SELECT n.nspname FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = pg_catalog.to_regclass($1)`;

export const quotedName = (name: string) => quoteIdent(name);

function refuse(message: string, hint?: string): never {
  throw new PgError(SQLSTATE.notSupported, message, { hint });
}

function columnOf(table: TableMapping, name: string): ColumnMapping | 'fixed' {
  if (name === RECORD_ID_COLUMN || name === CREATED_TIME_COLUMN) return 'fixed';
  const col = table.columns.find((c) => c.column === name);
  if (!col) {
    throw new PgError(
      SQLSTATE.undefinedColumn,
      `column "${name}" of relation "${table.table}" does not exist`,
      {
        column: name,
        table: table.table,
        schema: table.schema,
      },
    );
  }
  return col;
}

function notWritable(table: TableMapping, name: string, why: string): PgError {
  return new PgError(SQLSTATE.generatedAlways, `column "${name}" can only be updated to DEFAULT`, {
    detail: `${why}; airmirror sends nothing to Airtable for this statement.`,
    column: name,
    table: table.table,
    schema: table.schema,
  });
}

function writable(table: TableMapping, name: string): ColumnMapping {
  const col = columnOf(table, name);
  if (col === 'fixed') {
    throw notWritable(
      table,
      name,
      name === RECORD_ID_COLUMN ? 'Airtable assigns record ids' : "Airtable sets a record's created time",
    );
  }
  if (isComputedType(col.airtableType)) {
    throw notWritable(table, name, `Airtable computes field "${col.fieldName}" (${col.airtableType})`);
  }
  return col;
}

const isDefault = (n: Node) => Boolean(n?.SetToDefault);

/** The value a column takes for DEFAULT: the mirror's own column default. */
function defaultOf(col: ColumnMapping): string {
  return col.airtableType === 'checkbox' ? 'false' : `CAST(NULL AS ${col.pgType})`;
}

const cast = (expr: string, col: ColumnMapping) => `CAST((${expr}) AS ${col.pgType})`;

function withOf(node: Node): string {
  const ctes: Node[] = node.withClause?.ctes ?? [];
  for (const c of ctes) {
    const q = c.CommonTableExpr?.ctequery ?? {};
    if (q.InsertStmt || q.UpdateStmt || q.DeleteStmt || q.MergeStmt) {
      refuse('a write to a mirror table cannot have a data-modifying WITH clause');
    }
  }
  return ctes.length > 0 ? `${d({ WithClause: node.withClause })} ` : '';
}

function returningList(node: Node): string | undefined {
  const items: Node[] = node.returningClause?.exprs ?? node.returningList ?? [];
  return items.length > 0 ? items.map(d).join(', ') : undefined;
}

export function planWrite(stmt: DmlStatement, table: TableMapping): WritePlan {
  const n = stmt.node;
  const rel = d({ RangeVar: n.relation });
  const ref = quoteIdent(n.relation.alias?.aliasname ?? n.relation.relname);
  const base = {
    kind: stmt.kind,
    table,
    check: `EXPLAIN ${stmt.text}`,
    idsParam: stmt.paramCount + 1,
    paramCount: stmt.paramCount,
    deleteReturning: false,
  };
  const returning = (withText: string) => {
    const list = returningList(n);
    if (!list) return undefined;
    const ids = `$${stmt.paramCount + 1}::text[]`;
    return `${withText}SELECT ${list} FROM ${rel} WHERE ${ref}.id = ANY(${ids}) ORDER BY array_position(${ids}, ${ref}.id)`;
  };
  if (n.whereClause?.CurrentOfExpr) refuse('WHERE CURRENT OF is not supported on a mirror table');

  if (stmt.kind === 'delete') {
    const w = withOf(n);
    const using = (n.usingClause ?? []).map(d);
    const list = returningList(n);
    const resolve =
      `${w}SELECT ${ref}.id${list ? `, ${list}` : ''} FROM ${[rel, ...using].join(', ')}` +
      (n.whereClause ? ` WHERE ${d(n.whereClause)}` : '');
    return { ...base, columns: [], resolve, deleteReturning: list !== undefined };
  }

  if (stmt.kind === 'update') {
    const w = withOf(n);
    const columns: ColumnMapping[] = [];
    const values: string[] = [];
    for (const t of n.targetList as Node[]) {
      const target = t.ResTarget;
      if (target.indirection?.length)
        refuse(`assigning to a part of column "${target.name}" is not supported`);
      const col = writable(table, target.name);
      let val: Node = target.val;
      if (val?.MultiAssignRef) {
        const src = val.MultiAssignRef.source;
        if (!src?.RowExpr)
          refuse(
            'SET (columns) = (SELECT …) is not supported on a mirror table',
            'Set each column on its own.',
          );
        val = src.RowExpr.args[val.MultiAssignRef.colno - 1];
      }
      columns.push(col);
      values.push(isDefault(val) ? defaultOf(col) : cast(d(val), col));
    }
    const from = (n.fromClause ?? []).map(d);
    if (from.length > 0 && returningList(n)) {
      refuse(
        'RETURNING in UPDATE … FROM is not supported on a mirror table',
        'Run a SELECT after the UPDATE.',
      );
    }
    const resolve =
      `${w}SELECT row_to_json(ROW(${[`${ref}.id`, ...values].join(', ')})) FROM ${[rel, ...from].join(', ')}` +
      (n.whereClause ? ` WHERE ${d(n.whereClause)}` : '');
    return { ...base, columns, resolve, returning: returning(w) };
  }

  // INSERT
  if (n.onConflictClause) refuse('INSERT … ON CONFLICT is not supported on a mirror table');
  if (n.override && n.override !== 'OVERRIDING_NOT_SET') refuse('OVERRIDING … VALUE is not supported');
  const w = withOf(n);
  const names: string[] = n.cols
    ? (n.cols as Node[]).map((c) => {
        if (c.ResTarget.indirection?.length)
          refuse(`assigning to a part of column "${c.ResTarget.name}" is not supported`);
        return c.ResTarget.name as string;
      })
    : [RECORD_ID_COLUMN, CREATED_TIME_COLUMN, ...table.columns.map((c) => c.column)];
  const select: Node | undefined = n.selectStmt?.SelectStmt;
  if (!select) {
    // DEFAULT VALUES: one record with every field empty.
    return { ...base, columns: [], returning: returning(w) };
  }
  const simpleValues =
    select.valuesLists &&
    !select.sortClause &&
    !select.limitCount &&
    !select.limitOffset &&
    !select.withClause;
  if (simpleValues) {
    const rows: Node[][] = (select.valuesLists as Node[]).map((l) => l.List.items as Node[]);
    const included: Array<{ col: ColumnMapping; at: number }> = [];
    names.forEach((name, at) => {
      const col = columnOf(table, name);
      const allDefault = rows.every((r) => r[at] === undefined || isDefault(r[at]));
      if (col === 'fixed' || isComputedType(col.airtableType)) {
        if (!allDefault) writable(table, name); // throws, naming the column
        return;
      }
      included.push({ col, at });
    });
    const valueRows = rows.map(
      (r) =>
        `(${names
          .map((name, at) => {
            const col = columnOf(table, name);
            const item = r[at];
            if (col === 'fixed') return `CAST(NULL AS ${name === RECORD_ID_COLUMN ? 'text' : 'timestamptz'})`;
            return item === undefined || isDefault(item) ? defaultOf(col) : cast(d(item), col);
          })
          .join(', ')})`,
    );
    const fields = included.map((x) => `v.column${x.at + 1}`).join(', ');
    return {
      ...base,
      columns: included.map((x) => x.col),
      resolve: `${w}SELECT row_to_json(ROW(${fields})) FROM (VALUES ${valueRows.join(', ')}) AS v`,
      returning: returning(w),
    };
  }
  // INSERT … SELECT: its columns by position; fewer than the target list leaves the rest DEFAULT.
  const width = Math.min(names.length, selectWidth(select) ?? names.length);
  const cols = names.slice(0, width).map((name) => writable(table, name));
  const aliases = cols.map((_, i) => `c${i + 1}`);
  const resolve = `${w}SELECT row_to_json(ROW(${cols.map((c, i) => cast(`s.${aliases[i]}`, c)).join(', ')})) FROM (${d({ SelectStmt: select })}) AS s(${aliases.join(', ')})`;
  return { ...base, columns: cols, resolve, returning: returning(w) };
}

/** How many columns a SELECT yields, when its target list says so without `*`. */
function selectWidth(select: Node): number | undefined {
  if (select.op && select.op !== 'SETOP_NONE') return selectWidth(select.larg);
  if (select.valuesLists) return (select.valuesLists[0]?.List?.items ?? []).length;
  const targets: Node[] = select.targetList ?? [];
  if (targets.some((t) => JSON.stringify(t).includes('"A_Star"'))) return undefined;
  return targets.length;
}
