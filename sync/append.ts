/**
 * The `append` sync type (issue 5): besides keeping the mirror table current, every run records
 * one row per observed version of a record in a history table next to it:
 *
 *   <schema>.<table>_history (id, _observed_at, _deleted, created_time, …the mirror's columns)
 *
 * A version is written only when the record's content differs from its latest version (or it has
 * none yet), and a record that left the mirror gets a `_deleted` version. The mirror table is
 * brought up to date first — incrementally when an incremental_field is set (sync/incremental.ts),
 * else by the sweep — and versions are then taken from the mirror rows in one statement, so they
 * are exactly what SQL readers saw, converted by the one write path. The meta columns start with
 * `_`, which mirror columns never do (snake_case drops leading underscores), so no field collides.
 *
 * The history's columns follow the mirror: new fields become new (nullable) columns. A column
 * whose type changed would mix row shapes, so the run fails with a clear error instead; a resync
 * (`POST /api/schemas/{id}/resync`, or a configuration change that requires one) starts a new
 * history. The history table's name is chosen once and kept in `airmirror.tables.history_table`.
 */
import type { Queryable } from '../src/db/database.ts';
import { quoteIdent, quoteLiteral, quoteQualified } from '../src/db/quote.ts';
import { sql } from '../src/db/sql.ts';
import { fitIdentifier } from '../src/mirror/naming.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import type { SyncStrategy, TableSyncContext } from './strategy.ts';
import { syncIncrementally, type IncrementalOptions } from './incremental.ts';

export const OBSERVED_AT = '_observed_at';
export const DELETED = '_deleted';

export function createAppendStrategy(opts: IncrementalOptions = {}): SyncStrategy {
  return {
    syncType: 'append',
    async run(ctx) {
      const state = await historyState(ctx);
      if (ctx.config.incrementalField) await syncIncrementally(ctx, { ...opts, origin: 'append' });
      else await ctx.sweep({ ignoreCache: ctx.full });
      ctx.signal.throwIfAborted();
      const history = await ensureHistoryTable(ctx, state);
      await recordVersions(ctx, history, new Date(ctx.now()));
    },
  };
}

export const appendStrategy: SyncStrategy = createAppendStrategy();

interface HistoryState {
  name: string | null;
  resyncRequired: boolean;
}

async function historyState(ctx: TableSyncContext): Promise<HistoryState> {
  const r = await ctx.db.query<{ history_table: string | null; resync_required: boolean }>(
    sql(
      'SELECT history_table, resync_required FROM airmirror.tables WHERE source_id = $1 AND table_id = $2',
      [ctx.source.id, ctx.table.tableId],
    ),
  );
  return { name: r.rows[0]?.history_table ?? null, resyncRequired: r.rows[0]?.resync_required ?? false };
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

async function ensureHistoryTable(ctx: TableSyncContext, state: HistoryState): Promise<string> {
  const { table } = ctx;
  return ctx.db.tx(async (q) => {
    let name = state.name;
    // A resync (explicit, or required by a config change such as full_refresh → append) starts a
    // new history rather than appending versions of another shape or meaning to the old one.
    if (name && ctx.full && state.resyncRequired) {
      await q.query(sql(`DROP TABLE IF EXISTS ${quoteQualified(table.schema, name)}`));
    }
    name ??= await chooseHistoryName(q, table);
    const qualified = quoteQualified(table.schema, name);
    const cols = contentColumns(table);
    await q.query(
      sql(
        `CREATE TABLE IF NOT EXISTS ${qualified} (
           id text NOT NULL,
           ${quoteIdent(OBSERVED_AT)} timestamptz NOT NULL,
           ${quoteIdent(DELETED)} boolean NOT NULL DEFAULT false,
           ${cols.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(',\n')},
           PRIMARY KEY (id, ${quoteIdent(OBSERVED_AT)}))`,
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
    await q.query(
      sql(
        `UPDATE airmirror.tables SET history_table = $3, updated_at = now()
          WHERE source_id = $1 AND table_id = $2 AND history_table IS DISTINCT FROM $3`,
        [ctx.source.id, table.tableId, name],
      ),
    );
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
async function recordVersions(ctx: TableSyncContext, history: string, observedAt: Date): Promise<void> {
  const { table } = ctx;
  const mirror = quoteQualified(table.schema, table.table);
  const hist = quoteQualified(table.schema, history);
  const cols = contentColumns(table).map((c) => quoteIdent(c.name));
  const m = cols.map((c) => `m.${c}`).join(', ');
  const l = cols.map((c) => `l.${c}`).join(', ');
  const obs = quoteIdent(OBSERVED_AT);
  const del = quoteIdent(DELETED);
  const latest = `SELECT DISTINCT ON (id) * FROM ${hist} ORDER BY id, ${obs} DESC`;
  await ctx.db.tx(async (q) => {
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
    ctx.log.debug({ versions: changed.rowCount, deleted: gone.rowCount }, 'append: versions recorded');
  });
}
