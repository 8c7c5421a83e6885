import type { QueryResult } from 'pg';
import type { AirtableRecord } from '../airtable/types.ts';
import type { WriteTarget } from '../db/database.ts';
import { quoteIdent, quoteQualified } from '../db/quote.ts';
import type { Sql } from '../db/sql.ts';
import { convertRecord } from './convert.ts';
import { stampFenceCtes } from './fence.ts';
import { bind, cached, runTx, rowsJson, srcKey, type Params, type Statement } from './statements.ts';
import type { ApplyOptions, ApplyResult, ConvertedRecord, Origin, TableMapping } from './types.ts';
import { WRITER_SET_CONFIG } from './write-guard.ts';

/** Rows per statement: big enough to amortise a round trip, small enough to keep statements quick. */
const CHUNK_ROWS = 2000;

/**
 * Up to this many rows (a proxy write is at most 10, a webhook payload or an incremental page
 * rarely more), a statement is prepared once per connection and looks each row up by its id (a
 * nested loop over the primary key, whatever the table's size or statistics, so a generic plan
 * is as good as a custom one). Bigger batches are planned for their actual size every time.
 */
const SMALL_ROWS = 100;

const LOCK: Statement = {
  // Also marks the transaction as airmirror's own write, for the direct-write guard
  // (src/mirror/write-guard.ts): in the statement every write-path transaction starts with anyway.
  text: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), ${WRITER_SET_CONFIG}`,
  keys: [],
  name: 'airmirror_lock',
};

function lockSql(sourceId: string, tableId: string): Sql {
  // One lock per mirrored table, so the fence check of a page sees every committed proxy write.
  // It is a statement of its own: the statements after it take their snapshot once it is held.
  return { text: LOCK.text, values: [`airmirror:${sourceId}:${tableId}`], name: LOCK.name };
}

/** `pg_notify` once when `changed` (a CTE of changed rows) is not empty; delivered at commit. */
function notifyCte(changed: string): string {
  return `notify_once AS (SELECT pg_notify('airmirror_outbox', '') FROM (SELECT 1 FROM ${changed} LIMIT 1) AS any_change)`;
}
// A CTE without side effects runs only when read: the final SELECT counts its row.
const NOTIFIED = '(SELECT count(*) FROM notify_once) AS notified';

/**
 * Keeps `airmirror.tables.row_count` current in the statement that inserts or deletes rows (`k`:
 * a query of the count): every writer of a live table holds its advisory lock, so the count is
 * exact, and a statement that inserts and deletes nothing touches no row here (invariant 1).
 */
function rowCountCte(p: Params, k: string): string {
  return `row_count AS (UPDATE airmirror.tables SET row_count = GREATEST(row_count + rc.k, 0)
      FROM (${k}) AS rc WHERE source_id = ${p.add('sourceId')} AND table_id = ${p.add('tableId')} AND rc.k <> 0)`;
}

function outboxInsert(p: Params, select: (origin: string) => string): string {
  return `INSERT INTO airmirror.outbox
      (source_id, table_id, mirror_schema, mirror_table, record_id, op, origin, before, after, changed_columns)
    SELECT ${p.add('sourceId')}, ${p.add('tableId')}, ${p.add('schema')}, ${p.add('table')}, ${select(p.add('origin'))}`;
}

interface UpsertShape {
  schema: string;
  /** Live table: outbox events, NOTIFY, fenced rows skipped (a swap table gets none of these). */
  live: boolean;
  fenceCheck: boolean;
  stamp: boolean;
  small: boolean;
}

/** The upsert statement text for one chunk of one shape. */
function upsertText(p: Params, table: TableMapping, shape: UpsertShape): string {
  const target = quoteQualified(shape.schema, table.table);
  const cols = table.columns;
  const defs = ['i text', 't timestamptz', ...cols.map((c, k) => `${srcKey(k)} ${c.pgType}`)].join(', ');
  const mirrorCols = ['created_time', ...cols.map((c) => quoteIdent(c.column))];
  const srcCols = ['t', ...cols.map((_, k) => srcKey(k))];
  const m = (alias: string) => mirrorCols.map((c) => `${alias}.${c}`).join(', ');
  const s = (alias: string) => srcCols.map((c) => `${alias}.${c}`).join(', ');
  const rowsParam = p.add('rows');
  let fenced = 'SELECT NULL::text AS i WHERE false';
  if (shape.fenceCheck) {
    const rf = `rf.source_id = ${p.add('sourceId')} AND rf.table_id = ${p.add('tableId')}`;
    fenced = shape.small
      ? // A lookup per row (a subquery is never turned into a join): plan-independent.
        `SELECT s.i FROM s WHERE (SELECT rf.fence FROM airmirror.row_fence rf WHERE ${rf} AND rf.record_id = s.i)
          > ${p.add('after')}::bigint`
      : `SELECT s.i FROM s JOIN airmirror.row_fence rf ON ${rf} AND rf.record_id = s.i
          WHERE rf.fence > ${p.add('after')}::bigint`;
  }
  // Swap rebuilds write fenced rows anyway: the swap table has no newer copy to protect, and a
  // skipped row would vanish at promote. Their ids are returned so the syncer can refetch them.
  const skipFenced = shape.live ? 'AND NOT EXISTS (SELECT 1 FROM f WHERE f.i = s.i)' : '';
  // Small batches: one primary-key probe per row (OFFSET 0 keeps the subquery from being
  // flattened into a join the planner could turn into a scan of the whole table).
  const current = shape.small
    ? `LEFT JOIN LATERAL (SELECT * FROM ${target} AS cur WHERE cur.id = s.i OFFSET 0) AS m ON true`
    : `LEFT JOIN ${target} m ON m.id = s.i`;
  let before = '';
  if (shape.live) {
    const names = p.add('names');
    const checks = mirrorCols.map(
      (c, k) => `CASE WHEN m.${c} IS DISTINCT FROM s.${srcCols[k]} THEN (${names}::text[])[${k + 1}] END`,
    );
    before = `, CASE WHEN m.id IS NOT NULL THEN to_jsonb(m.*) END AS before,
      CASE WHEN m.id IS NOT NULL THEN array_remove(ARRAY[${checks.join(', ')}], NULL) END AS changed`;
  }
  const tail: string[] = [];
  if (shape.live) {
    tail.push(
      `e AS (${outboxInsert(
        p,
        (
          origin,
        ) => `u.id, CASE WHEN c.existed THEN 'update' ELSE 'insert' END, ${origin}, c.before, to_jsonb(u.*), c.changed
         FROM u JOIN c ON c.i = u.id`,
      )})`,
      notifyCte('u'),
      rowCountCte(p, 'SELECT count(*) AS k FROM u JOIN c ON c.i = u.id WHERE NOT c.existed'),
    );
  }
  if (shape.stamp)
    tail.push(stampFenceCtes({ sourceId: p.add('sourceId'), tableId: p.add('tableId'), ids: p.add('ids') }));
  return `WITH s AS (SELECT * FROM jsonb_to_recordset(${rowsParam}::jsonb) AS x(${defs})),
    f AS (${fenced}),
    c AS (
      SELECT s.*, m.id IS NOT NULL AS existed ${before}
      FROM s ${current}
      WHERE (m.id IS NULL OR (${m('m')}) IS DISTINCT FROM (${s('s')})) ${skipFenced}
    ),
    u AS (
      INSERT INTO ${target} AS m (id, ${mirrorCols.join(', ')}) SELECT i, ${srcCols.join(', ')} FROM c
      ON CONFLICT (id) DO UPDATE SET ${mirrorCols.map((c) => `${c} = excluded.${c}`).join(', ')}
      WHERE (${m('m')}) IS DISTINCT FROM (${m('excluded')})
      RETURNING m.*
    )${tail.map((t) => `, ${t}`).join('')}
    SELECT ARRAY(SELECT f.i FROM f) AS fenced,
      ARRAY(SELECT u.id FROM u JOIN c ON c.i = u.id WHERE NOT c.existed) AS inserted,
      ARRAY(SELECT u.id FROM u JOIN c ON c.i = u.id WHERE c.existed) AS updated
      ${shape.live ? `, ${NOTIFIED}` : ''}`;
}

function upsertSql(
  table: TableMapping,
  chunk: ConvertedRecord[],
  opts: ApplyOptions,
  stampIds: string[] | undefined,
): Sql {
  const shape: UpsertShape = {
    schema: opts.schemaOverride ?? table.schema,
    live: opts.schemaOverride === undefined,
    fenceCheck: opts.fetchedBefore !== undefined,
    stamp: stampIds !== undefined,
    small: chunk.length <= SMALL_ROWS,
  };
  const key = `upsert\0${shape.schema}\0${+shape.live}${+shape.fenceCheck}${+shape.stamp}${+shape.small}`;
  const st = cached(table, key, shape.small, (p) => upsertText(p, table, shape));
  return bind(st, {
    rows: rowsJson(table, chunk),
    names: shape.live ? ['created_time', ...table.columns.map((c) => c.column)] : undefined,
    sourceId: opts.sourceId,
    tableId: table.tableId,
    schema: shape.schema,
    table: table.table,
    origin: opts.origin,
    after: opts.fetchedBefore === undefined ? undefined : String(opts.fetchedBefore),
    ids: stampIds,
  });
}

function lastWins<T extends { id: string }>(records: T[]): T[] {
  const byId = new Map<string, T>();
  for (const r of records) {
    byId.delete(r.id); // keep the position of the last occurrence
    byId.set(r.id, r);
  }
  return byId.size === records.length ? records : [...byId.values()];
}

/**
 * The single write path for records (docs/ARCHITECTURE.md). In one transaction: the table's
 * advisory lock; one upsert per chunk that skips identical rows before they are touched (no dead
 * tuple, no row lock, invariant 1) and rows fenced after `fetchedBefore`; outbox events with
 * before/after/changed columns and NOTIFY when something changed; and for authoritative writes
 * (`stampFence`) one fresh fence value on every record, stamped by the last chunk's statement. A
 * record id given twice counts once, the last one winning.
 */
export async function applyRecords(
  db: WriteTarget,
  table: TableMapping,
  records: AirtableRecord[],
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const converted = lastWins(records.map((r) => convertRecord(table, r, opts.keyedBy ?? 'id')));
  const result: ApplyResult = {
    inserted: 0,
    updated: 0,
    unchanged: 0,
    fencedOut: 0,
    cellErrors: 0,
    changedIds: [],
    fencedIds: [],
  };
  for (const c of converted) result.cellErrors += c.cellErrors;
  if (converted.length === 0) return result;
  const live = opts.schemaOverride === undefined;
  const chunks: ConvertedRecord[][] = [];
  for (let i = 0; i < converted.length; i += CHUNK_ROWS) chunks.push(converted.slice(i, i + CHUNK_ROWS));
  const stampIds = opts.stampFence ? converted.map((c) => c.id) : undefined;
  const upsert = (chunk: ConvertedRecord[], k: number) =>
    upsertSql(table, chunk, opts, k === chunks.length - 1 ? stampIds : undefined);
  const lock = lockSql(opts.sourceId, table.tableId);

  let answers: QueryResult[];
  if (chunks.length === 1) {
    answers = (await runTx(db, [lock, upsert(chunks[0], 0)])).slice(1);
  } else {
    // Big batches: one chunk's JSON at a time, rather than every chunk built up front.
    answers = await db.tx(async (q) => {
      await q.query(lock);
      const out: QueryResult[] = [];
      for (let k = 0; k < chunks.length; k++) out.push(await q.query(upsert(chunks[k], k)));
      return out;
    });
  }
  answers.forEach((r, k) => {
    const row = r.rows[0] as { fenced: string[]; inserted: string[]; updated: string[] };
    result.inserted += row.inserted.length;
    result.updated += row.updated.length;
    if (live) result.fencedOut += row.fenced.length;
    result.unchanged +=
      chunks[k].length - row.inserted.length - row.updated.length - (live ? row.fenced.length : 0);
    result.changedIds.push(...row.inserted, ...row.updated);
    result.fencedIds?.push(...row.fenced);
  });
  return result;
}

/**
 * Deletes `ids` through the write path: advisory lock, rows fenced after `fetchedBefore` spared,
 * outbox `delete` events (with `before`), and for authoritative deletes (`stampFence`) a
 * tombstone fence on every id, so a page fetched before the delete cannot resurrect the row.
 */
export async function applyDeletes(
  db: WriteTarget,
  table: TableMapping,
  ids: string[],
  opts: ApplyOptions,
): Promise<{ deleted: number; ids: string[] }> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return { deleted: 0, ids: [] };
  const schema = opts.schemaOverride ?? table.schema;
  const live = opts.schemaOverride === undefined;
  const fenceCheck = opts.fetchedBefore !== undefined;
  const stamp = opts.stampFence === true;
  const small = unique.length <= SMALL_ROWS;
  const key = `delete\0${schema}\0${+live}${+fenceCheck}${+stamp}${+small}`;
  const st = cached(table, key, small, (p) => {
    const where = `m.id = ANY(${p.add('ids')}::text[]) ${
      fenceCheck
        ? `AND NOT EXISTS (SELECT 1 FROM airmirror.row_fence rf WHERE rf.source_id = ${p.add('sourceId')}
             AND rf.table_id = ${p.add('tableId')} AND rf.record_id = m.id
             AND rf.fence > ${p.add('after')}::bigint)`
        : ''
    }`;
    const extra = stamp
      ? [stampFenceCtes({ sourceId: p.add('sourceId'), tableId: p.add('tableId'), ids: p.add('ids') })]
      : [];
    return deleteText(p, table, schema, where, live, extra);
  });
  const r = await runTx(db, [
    lockSql(opts.sourceId, table.tableId),
    bind(st, {
      ids: unique,
      sourceId: opts.sourceId,
      tableId: table.tableId,
      schema,
      table: table.table,
      origin: opts.origin,
      after: fenceCheck ? String(opts.fetchedBefore) : undefined,
    }),
  ]);
  const deleted = (r[1].rows[0] as { ids: string[] }).ids;
  return { deleted: deleted.length, ids: deleted };
}

/** DELETE … RETURNING, with outbox `delete` events and NOTIFY for live tables, plus `extra` CTEs. */
function deleteText(
  p: Params,
  table: TableMapping,
  schema: string,
  where: string,
  live: boolean,
  extra: string[],
): string {
  const ctes = [...extra];
  if (live) {
    ctes.push(
      `e AS (${outboxInsert(p, (origin) => `d.id, 'delete', ${origin}, to_jsonb(d.*), NULL::jsonb, NULL::text[] FROM d`)})`,
      notifyCte('d'),
      rowCountCte(p, 'SELECT -count(*) AS k FROM d'),
    );
  }
  return `WITH d AS (DELETE FROM ${quoteQualified(schema, table.table)} m WHERE ${where} RETURNING m.*)${ctes
    .map((c) => `, ${c}`)
    .join('')}
     SELECT ARRAY(SELECT d.id FROM d) AS ids${live ? `, ${NOTIFIED}` : ''}`;
}

/**
 * The delete phase of a sweep, after a complete listing: deletes every row whose id is not in
 * `seenIds`, except rows fenced after `listingFence` (the fence taken before the first page —
 * e.g. created through the proxy mid-listing; invariant 3). Outbox events as for applyDeletes.
 */
export async function deleteUnseen(
  db: WriteTarget,
  table: TableMapping,
  seenIds: Iterable<string> | string[],
  opts: { sourceId: string; origin: Origin; listingFence: bigint | string; schemaOverride?: string },
): Promise<{ deleted: number; ids: string[] }> {
  const seen = Array.isArray(seenIds) ? seenIds : [...seenIds];
  const schema = opts.schemaOverride ?? table.schema;
  const live = opts.schemaOverride === undefined;
  // Never prepared: the anti-join must be planned for the real size of the listing.
  const st = cached(table, `unseen\0${schema}\0${+live}`, false, (p) => {
    // An anti-join against the unnested ids (hashed), not `<> ALL(array)`, which is quadratic.
    const where = `NOT EXISTS (SELECT 1 FROM unnest(${p.add('ids')}::text[]) AS seen(id) WHERE seen.id = m.id)
      AND NOT EXISTS (SELECT 1 FROM airmirror.row_fence rf WHERE rf.source_id = ${p.add('sourceId')}
        AND rf.table_id = ${p.add('tableId')} AND rf.record_id = m.id
        AND rf.fence > ${p.add('after')}::bigint)`;
    return deleteText(p, table, schema, where, live, []);
  });
  const r = await runTx(db, [
    lockSql(opts.sourceId, table.tableId),
    bind(st, {
      ids: seen,
      sourceId: opts.sourceId,
      tableId: table.tableId,
      schema,
      table: table.table,
      origin: opts.origin,
      after: String(opts.listingFence),
    }),
  ]);
  const ids = (r[1].rows[0] as { ids: string[] }).ids;
  return { deleted: ids.length, ids };
}
