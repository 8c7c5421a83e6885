/**
 * The statements of the write path (apply.ts) as cached texts with named arguments, the JSON rows
 * they read, and how one call's statements run in one transaction.
 */
import type { QueryResult } from 'pg';
import type { WriteTarget } from '../db/database.ts';
import type { Sql } from '../db/sql.ts';
import type { ConvertedRecord, Origin, TableMapping } from './types.ts';

/** Keys of the JSON rows handed to jsonb_to_recordset: short and always safe, whatever the column names. */
export const srcKey = (k: number) => `c${k}`;

/** What a statement of the write path binds; each cached statement text lists the ones it uses. */
export interface Args {
  rows: string;
  names: string[];
  sourceId: string;
  tableId: string;
  schema: string;
  table: string;
  origin: Origin;
  after: string;
  ids: string[];
}
export type ArgKey = keyof Args;

/** Builds `$n` placeholders, one per distinct argument, so a statement's text does not depend on values. */
export class Params {
  readonly keys: ArgKey[] = [];
  add(key: ArgKey): string {
    const at = this.keys.indexOf(key);
    if (at >= 0) return `$${at + 1}`;
    this.keys.push(key);
    return `$${this.keys.length}`;
  }
}

export interface Statement {
  text: string;
  keys: ArgKey[];
  /** Set for small-batch shapes: prepared once per connection. */
  name?: string;
}

/**
 * Statement texts depend only on the table mapping and the statement's shape, so they are built
 * once per (mapping, shape). Prepared names are given per text, not per mapping object: callers
 * that reload an unchanged mapping reuse the statements their connections already hold, so the
 * server keeps one prepared statement per text and connection, however often mappings reload.
 */
const statements = new WeakMap<TableMapping, Map<string, Statement>>();
const preparedNames = new Map<string, string>();
function nameFor(text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) preparedNames.set(text, (name = `airmirror_w${preparedNames.size + 1}`));
  return name;
}

export function cached(
  table: TableMapping,
  shape: string,
  prepare: boolean,
  build: (p: Params) => string,
): Statement {
  let byShape = statements.get(table);
  if (!byShape) statements.set(table, (byShape = new Map()));
  let st = byShape.get(shape);
  if (!st) {
    const p = new Params();
    const text = build(p);
    st = { text, keys: p.keys, name: prepare ? nameFor(text) : undefined };
    byShape.set(shape, st);
  }
  return st;
}

export function bind(st: Statement, args: Partial<Args>): Sql {
  return { text: st.text, values: st.keys.map((k) => args[k]), name: st.name };
}

/**
 * Serialises converted rows as one JSON array for jsonb_to_recordset: one parameter per statement
 * whatever the row and column count (no 65535-parameter limit), and text[] / jsonb cells keep
 * their shape. jsonb cells are already JSON text (convertRecord) and are embedded as they are.
 */
/** Converted rows as the JSON array jsonb_to_recordset reads (keys i, t, c0…; also used by verify). */
export function rowsJson(table: TableMapping, rows: ConvertedRecord[]): string {
  const jsonb = jsonbColumns(table);
  return `[${rows.map((r) => rowJson(r, jsonb)).join(',')}]`;
}

/** Which columns of `table` are jsonb (their cells are embedded as they are by rowJson). */
export function jsonbColumns(table: TableMapping): boolean[] {
  return table.columns.map((c) => c.pgType === 'jsonb');
}

/** One converted row as an element of rowsJson's array. */
function rowJson(r: ConvertedRecord, jsonb: boolean[]): string {
  let s = `{"i":${JSON.stringify(r.id)},"t":${JSON.stringify(r.createdTime)}`;
  for (let k = 0; k < r.values.length; k++) {
    const v = r.values[k];
    s += `,"${srcKey(k)}":${v === null || v === undefined ? 'null' : jsonb[k] ? (v as string) : JSON.stringify(v)}`;
  }
  return `${s}}`;
}

/**
 * Runs the statements of one write-path call in one transaction: in one round trip where the
 * Database can pipeline them, else one after another. Either way each statement starts only
 * after the previous one finished, so the lock is held before the writes take their snapshot.
 */
export async function runTx(db: WriteTarget, list: Sql[]): Promise<QueryResult[]> {
  if (db.txPipeline) return db.txPipeline(list);
  return db.tx(async (q) => {
    const out: QueryResult[] = [];
    for (const s of list) out.push(await q.query(s));
    return out;
  });
}
