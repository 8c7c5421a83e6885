/**
 * The history tables of the `append` sync type (sync/append.ts): one row per observed version of
 * a record, next to its mirror table,
 *
 *   <schema>.<table>_history (id, _observed_at, _deleted, created_time, …the mirror's columns)
 *
 * The meta columns start with `_`, which mirror columns never do (snake_case drops leading
 * underscores), so no field collides. The columns follow the mirror: new fields become new
 * (nullable) columns; a column whose type changed would mix row shapes, so that is an error (a
 * resync starts a new history). The name is chosen once and kept in `airmirror.tables.history_table`.
 */
import { setHistoryTable } from '../bookkeeping/table-config.ts';
import type { Database, Queryable } from '../db/database.ts';
import { quoteIdent, quoteLiteral, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { fitIdentifier } from './naming.ts';
import type { TableMapping } from './types.ts';

export const HISTORY_OBSERVED_AT = '_observed_at';
export const HISTORY_DELETED = '_deleted';

/** What the table's bookkeeping row says of its history. */
export interface HistoryState {
  /** The history table's name; null before its first run. */
  name: string | null;
  resyncRequired: boolean;
}

/** `<table>_history`, or `<table>_history_2`, … when that name is taken by anything else. */
async function chooseHistoryName(q: Queryable, table: TableMapping): Promise<string> {
  for (let n = 1; ; n++) {
    const name = fitIdentifier(table.table, n === 1 ? '_history' : `_history_${n}`);
    const r = await q.query(
      sql('SELECT to_regclass($1) IS NOT NULL AS taken', [quoteQualified(table.schema, name)]),
    );
    if (!(r.rows[0] as { taken: boolean }).taken) return name;
  }
}

interface Column {
  name: string;
  type: string;
}

/** The history's content columns: created_time and every mirror column, with the mirror's types. */
function contentColumns(table: TableMapping): Column[] {
  return [
    { name: 'created_time', type: 'timestamptz' },
    ...table.columns.map((c) => ({ name: c.column, type: c.pgType })),
  ];
}

/**
 * Creates (or completes) the history table of `table` and records its name, in one transaction.
 * `startOver` drops the existing one first: a new history rather than versions of another shape
 * or meaning appended to the old one. Resolves with the history table's name.
 */
export async function ensureHistoryTable(
  db: Pick<Database, 'tx'>,
  sourceId: string,
  table: TableMapping,
  state: HistoryState,
  startOver: boolean,
): Promise<string> {
  return db.tx(async (q) => {
    let name = state.name;
    if (name && startOver) await q.query(sql(`DROP TABLE IF EXISTS ${quoteQualified(table.schema, name)}`));
    name ??= await chooseHistoryName(q, table);
    const qualified = quoteQualified(table.schema, name);
    const cols = contentColumns(table);
    await q.query(
      sql(
        `CREATE TABLE IF NOT EXISTS ${qualified} (
           id text NOT NULL,
           ${quoteIdent(HISTORY_OBSERVED_AT)} timestamptz NOT NULL,
           ${quoteIdent(HISTORY_DELETED)} boolean NOT NULL DEFAULT false,
           ${cols.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(',\n')},
           PRIMARY KEY (id, ${quoteIdent(HISTORY_OBSERVED_AT)}))`,
      ),
    );
    await q.query(
      sql(
        `COMMENT ON TABLE ${qualified} IS ${quoteLiteral(
          `Versions of Airtable table ${JSON.stringify(table.tableName)} (${table.tableId}) observed by airmirror (append sync)`,
        )}`,
      ),
    );
    const existing = await q.query<{ attname: string; type: string }>(
      sql(
        `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
           FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
        [qualified],
      ),
    );
    const have = new Map(existing.rows.map((r) => [r.attname, r.type]));
    for (const c of cols) {
      const t = have.get(c.name);
      if (t === undefined) {
        await q.query(sql(`ALTER TABLE ${qualified} ADD COLUMN ${quoteIdent(c.name)} ${c.type}`));
      } else if (normalizeType(t) !== normalizeType(c.type)) {
        throw new Error(
          `history table ${table.schema}.${name}: column ${c.name} is ${t} but the mirror's is now ${c.type}; ` +
            'resync the table to start a new history',
        );
      }
    }
    await setHistoryTable(q, sourceId, table.tableId, name);
    return name;
  });
}

/** format_type spells some types differently from how DDL names them. */
function normalizeType(t: string): string {
  return t
    .toLowerCase()
    .replace(/^timestamp with time zone/, 'timestamptz')
    .replace(/^character varying/, 'varchar');
}

/**
 * Appends a version for every mirror row that differs from its latest version (or has none, or
 * was deleted), and a `_deleted` version for every record whose latest version is live but whose
 * mirror row is gone. A write landing between the two statements is simply seen by the next run.
 */
export async function recordVersions(
  db: Pick<Database, 'tx'>,
  table: TableMapping,
  history: string,
  observedAt: Date,
): Promise<{ versions: number | null; deleted: number | null }> {
  const mirror = quoteQualified(table.schema, table.table);
  const hist = quoteQualified(table.schema, history);
  const cols = contentColumns(table).map((c) => quoteIdent(c.name));
  const m = cols.map((c) => `m.${c}`).join(', ');
  const l = cols.map((c) => `l.${c}`).join(', ');
  const obs = quoteIdent(HISTORY_OBSERVED_AT);
  const del = quoteIdent(HISTORY_DELETED);
  const latest = `SELECT DISTINCT ON (id) * FROM ${hist} ORDER BY id, ${obs} DESC`;
  return db.tx(async (q) => {
    const changed = await q.query(
      sql(
        `WITH l AS (${latest})
         INSERT INTO ${hist} (id, ${obs}, ${del}, ${cols.join(', ')})
         SELECT m.id, $1, false, ${m}
           FROM ${mirror} m LEFT JOIN l ON l.id = m.id
          WHERE l.id IS NULL OR l.${del} OR ROW(${m}) IS DISTINCT FROM ROW(${l})
         ON CONFLICT DO NOTHING`,
        [observedAt],
      ),
    );
    const gone = await q.query(
      sql(
        `WITH l AS (${latest})
         INSERT INTO ${hist} (id, ${obs}, ${del})
         SELECT l.id, $1, true FROM l
          WHERE NOT l.${del} AND NOT EXISTS (SELECT 1 FROM ${mirror} m WHERE m.id = l.id)
         ON CONFLICT DO NOTHING`,
        [observedAt],
      ),
    );
    return { versions: changed.rowCount, deleted: gone.rowCount };
  });
}
