import type { AirtableRecord } from '../airtable/types.ts';
import type { Database, Queryable } from '../db/database.ts';
import { quoteIdent, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { convertRecord } from './convert.ts';
import { stampFenceSql } from './fence.ts';
import type { ApplyOptions, ApplyResult, Origin, TableMapping } from './types.ts';

/** Rows per statement: big enough to amortise a round trip, small enough to keep statements quick. */
const CHUNK_ROWS = 2000;

/** Keys of the JSON rows handed to jsonb_to_recordset: short and always safe, whatever the column names. */
const srcKey = (k: number) => `c${k}`;

/** Builds `$n` placeholders as values are added, so statements stay readable. */
class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/**
 * Serialises converted rows as one JSON array for jsonb_to_recordset: one parameter per statement
 * whatever the row and column count (no 65535-parameter limit), and text[] / jsonb cells keep
 * their shape. jsonb cells are already JSON text (convertRecord) and are embedded as they are.
 */
function rowsJson(
  table: TableMapping,
  rows: { id: string; createdTime: string; values: unknown[] }[],
): string {
  const jsonb = table.columns.map((c) => c.pgType === 'jsonb');
  const parts: string[] = [];
  for (const r of rows) {
    let s = `{"i":${JSON.stringify(r.id)},"t":${JSON.stringify(r.createdTime)}`;
    for (let k = 0; k < r.values.length; k++) {
      const v = r.values[k];
      s += `,"${srcKey(k)}":${v === null || v === undefined ? 'null' : jsonb[k] ? (v as string) : JSON.stringify(v)}`;
    }
    parts.push(`${s}}`);
  }
  return `[${parts.join(',')}]`;
}

function lockSql(sourceId: string, tableId: string) {
  // One lock per mirrored table, so the fence check of a page sees every committed proxy write.
  return sql('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`airmirror:${sourceId}:${tableId}`]);
}

function fenceCte(
  p: Params,
  sourceId: string,
  tableId: string,
  after: bigint | string,
  idsFrom: string,
): string {
  return `SELECT s.i FROM ${idsFrom} s JOIN airmirror.row_fence rf
            ON rf.source_id = ${p.add(sourceId)} AND rf.table_id = ${p.add(tableId)} AND rf.record_id = s.i
          WHERE rf.fence > ${p.add(String(after))}::bigint`;
}

function outboxInsert(
  p: Params,
  o: { sourceId: string; table: TableMapping; schema: string; origin: Origin },
  select: (origin: string) => string,
): string {
  return `INSERT INTO airmirror.outbox
      (source_id, table_id, mirror_schema, mirror_table, record_id, op, origin, before, after, changed_columns)
    SELECT ${p.add(o.sourceId)}, ${p.add(o.table.tableId)}, ${p.add(o.schema)}, ${p.add(o.table.table)}, ${select(p.add(o.origin))}`;
}

/** The upsert statement for one chunk. */
function upsertSql(table: TableMapping, json: string, opts: ApplyOptions, schema: string, events: boolean) {
  const p = new Params();
  const target = quoteQualified(schema, table.table);
  const cols = table.columns;
  const defs = ['i text', 't timestamptz', ...cols.map((c, k) => `${srcKey(k)} ${c.pgType}`)].join(', ');
  const mirrorCols = ['created_time', ...cols.map((c) => quoteIdent(c.column))];
  const srcCols = ['t', ...cols.map((_, k) => srcKey(k))];
  const m = (alias: string) => mirrorCols.map((c) => `${alias}.${c}`).join(', ');
  const s = (alias: string) => srcCols.map((c) => `${alias}.${c}`).join(', ');
  const rowsParam = p.add(json);
  const fenced =
    opts.fetchedBefore !== undefined
      ? fenceCte(p, opts.sourceId, table.tableId, opts.fetchedBefore, 's')
      : 'SELECT NULL::text AS i WHERE false';
  // Swap rebuilds write fenced rows anyway: the swap table has no newer copy to protect, and a
  // skipped row would vanish at promote. Their ids are returned so the syncer can refetch them.
  const skipFenced =
    opts.schemaOverride === undefined ? 'AND NOT EXISTS (SELECT 1 FROM f WHERE f.i = s.i)' : '';
  let before = '';
  if (events) {
    const names = p.add(['created_time', ...cols.map((c) => c.column)]);
    const checks = mirrorCols.map(
      (c, k) => `CASE WHEN m.${c} IS DISTINCT FROM s.${srcCols[k]} THEN (${names}::text[])[${k + 1}] END`,
    );
    before = `, CASE WHEN m.id IS NOT NULL THEN to_jsonb(m.*) END AS before,
      CASE WHEN m.id IS NOT NULL THEN array_remove(ARRAY[${checks.join(', ')}], NULL) END AS changed`;
  }
  const eventsCte = events
    ? `, e AS (${outboxInsert(
        p,
        { sourceId: opts.sourceId, table, schema, origin: opts.origin },
        (
          origin,
        ) => `u.id, CASE WHEN c.existed THEN 'update' ELSE 'insert' END, ${origin}, c.before, to_jsonb(u.*), c.changed
         FROM u JOIN c ON c.i = u.id`,
      )} RETURNING 1)`
    : '';
  const text = `WITH s AS (SELECT * FROM jsonb_to_recordset(${rowsParam}::jsonb) AS x(${defs})),
    f AS (${fenced}),
    c AS (
      SELECT s.*, m.id IS NOT NULL AS existed ${before}
      FROM s LEFT JOIN ${target} m ON m.id = s.i
      WHERE (m.id IS NULL OR (${m('m')}) IS DISTINCT FROM (${s('s')})) ${skipFenced}
    ),
    u AS (
      INSERT INTO ${target} AS m (id, ${mirrorCols.join(', ')}) SELECT i, ${srcCols.join(', ')} FROM c
      ON CONFLICT (id) DO UPDATE SET ${mirrorCols.map((c) => `${c} = excluded.${c}`).join(', ')}
      WHERE (${m('m')}) IS DISTINCT FROM (${m('excluded')})
      RETURNING m.*
    )${eventsCte}
    SELECT ARRAY(SELECT f.i FROM f) AS fenced,
      ARRAY(SELECT u.id FROM u JOIN c ON c.i = u.id WHERE NOT c.existed) AS inserted,
      ARRAY(SELECT u.id FROM u JOIN c ON c.i = u.id WHERE c.existed) AS updated`;
  return sql(text, p.values);
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
 * before/after/changed columns and one NOTIFY; and for authoritative writes (`stampFence`) a
 * fresh fence on every record. A record id given twice counts once, the last one winning.
 */
export async function applyRecords(
  db: Database,
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
  const schema = opts.schemaOverride ?? table.schema;
  const events = opts.schemaOverride === undefined;
  await db.tx(async (tx) => {
    await tx.query(lockSql(opts.sourceId, table.tableId));
    for (let i = 0; i < converted.length; i += CHUNK_ROWS) {
      const chunk = converted.slice(i, i + CHUNK_ROWS);
      const r = await tx.query<{ fenced: string[]; inserted: string[]; updated: string[] }>(
        upsertSql(table, rowsJson(table, chunk), opts, schema, events),
      );
      const row = r.rows[0];
      result.inserted += row.inserted.length;
      result.updated += row.updated.length;
      if (events) result.fencedOut += row.fenced.length;
      result.unchanged +=
        chunk.length - row.inserted.length - row.updated.length - (events ? row.fenced.length : 0);
      result.changedIds.push(...row.inserted, ...row.updated);
      result.fencedIds?.push(...row.fenced);
    }
    if (opts.stampFence)
      await tx.query(
        stampFenceSql(
          opts.sourceId,
          table.tableId,
          converted.map((c) => c.id),
        ),
      );
    if (events && result.changedIds.length > 0) await notify(tx);
  });
  return result;
}

async function notify(q: Queryable): Promise<void> {
  await q.query(sql("SELECT pg_notify('airmirror_outbox', '')"));
}

/**
 * Deletes `ids` through the write path: advisory lock, rows fenced after `fetchedBefore` spared,
 * outbox `delete` events (with `before`), and for authoritative deletes (`stampFence`) a
 * tombstone fence on every id, so a page fetched before the delete cannot resurrect the row.
 */
export async function applyDeletes(
  db: Database,
  table: TableMapping,
  ids: string[],
  opts: ApplyOptions,
): Promise<{ deleted: number; ids: string[] }> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return { deleted: 0, ids: [] };
  const schema = opts.schemaOverride ?? table.schema;
  const events = opts.schemaOverride === undefined;
  return db.tx(async (tx) => {
    await tx.query(lockSql(opts.sourceId, table.tableId));
    const p = new Params();
    const idsParam = p.add(unique);
    const fenced =
      opts.fetchedBefore !== undefined
        ? `AND NOT EXISTS (SELECT 1 FROM airmirror.row_fence rf WHERE rf.source_id = ${p.add(opts.sourceId)}
             AND rf.table_id = ${p.add(table.tableId)} AND rf.record_id = m.id
             AND rf.fence > ${p.add(String(opts.fetchedBefore))}::bigint)`
        : '';
    const r = await tx.query<{ ids: string[] }>(
      deleteSql(p, table, schema, `m.id = ANY(${idsParam}::text[]) ${fenced}`, events ? opts : undefined),
    );
    const deleted = r.rows[0].ids;
    if (opts.stampFence) await tx.query(stampFenceSql(opts.sourceId, table.tableId, unique));
    if (events && deleted.length > 0) await notify(tx);
    return { deleted: deleted.length, ids: deleted };
  });
}

function deleteSql(
  p: Params,
  table: TableMapping,
  schema: string,
  where: string,
  events: { sourceId: string; origin: Origin } | undefined,
) {
  const eventsCte = events
    ? `, e AS (${outboxInsert(
        p,
        { sourceId: events.sourceId, table, schema, origin: events.origin },
        (origin) => `d.id, 'delete', ${origin}, to_jsonb(d.*), NULL::jsonb, NULL::text[] FROM d`,
      )})`
    : '';
  return sql(
    `WITH d AS (DELETE FROM ${quoteQualified(schema, table.table)} m WHERE ${where} RETURNING m.*)${eventsCte}
     SELECT ARRAY(SELECT d.id FROM d) AS ids`,
    p.values,
  );
}

/**
 * The delete phase of a sweep, after a complete listing: deletes every row whose id is not in
 * `seenIds`, except rows fenced after `listingFence` (the fence taken before the first page —
 * e.g. created through the proxy mid-listing; invariant 3). Outbox events as for applyDeletes.
 */
export async function deleteUnseen(
  db: Database,
  table: TableMapping,
  seenIds: Iterable<string> | string[],
  opts: { sourceId: string; origin: Origin; listingFence: bigint | string; schemaOverride?: string },
): Promise<{ deleted: number; ids: string[] }> {
  const seen = Array.isArray(seenIds) ? seenIds : [...seenIds];
  const schema = opts.schemaOverride ?? table.schema;
  const events = opts.schemaOverride === undefined;
  return db.tx(async (tx) => {
    await tx.query(lockSql(opts.sourceId, table.tableId));
    const p = new Params();
    // An anti-join against the unnested ids (hashed), not `<> ALL(array)`, which is quadratic.
    const where = `NOT EXISTS (SELECT 1 FROM unnest(${p.add(seen)}::text[]) AS seen(id) WHERE seen.id = m.id)
      AND NOT EXISTS (SELECT 1 FROM airmirror.row_fence rf WHERE rf.source_id = ${p.add(opts.sourceId)}
        AND rf.table_id = ${p.add(table.tableId)} AND rf.record_id = m.id
        AND rf.fence > ${p.add(String(opts.listingFence))}::bigint)`;
    const r = await tx.query<{ ids: string[] }>(
      deleteSql(p, table, schema, where, events ? opts : undefined),
    );
    const ids = r.rows[0].ids;
    if (events && ids.length > 0) await notify(tx);
    return { deleted: ids.length, ids };
  });
}
