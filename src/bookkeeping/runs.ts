import type { Queryable } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { sql } from '../db/sql.ts';
import type { SourcesRow, SyncRunsRow } from './rows.ts';

/** What one run of one table (or a source's schema step) did; written to `airmirror.sync_runs`. */
export interface RunCounters {
  requests: number;
  /** Records listed from Airtable (every page, every restart). */
  seen: number;
  inserted: number;
  updated: number;
  /** Sent to the write path but identical to the mirror row (nothing written). */
  unchanged: number;
  /** Skipped before the write path because the hash cache knew them. */
  cached: number;
  /** Skipped by the row fence: a newer proxy/webhook write owns the row. */
  fencedOut: number;
  deleted: number;
  cellErrors: number;
  listingRestarts: number;
}

export function newCounters(): RunCounters {
  return {
    requests: 0,
    seen: 0,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    cached: 0,
    fencedOut: 0,
    deleted: 0,
    cellErrors: 0,
    listingRestarts: 0,
  };
}

export type RunKind = 'full_refresh' | 'incremental' | 'append' | 'webhook' | 'schema' | (string & {});
export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export interface RunStart {
  sourceId: string;
  /** Airtable table id; undefined for a source-level step (schema read / rebuild promote). */
  tableId?: string;
  /** The table's Airtable name, so `status` can name a table its first sync is still building. */
  tableName?: string;
  kind: RunKind;
  rebuild?: boolean;
  schemaHash?: string;
}

export async function startRun(q: Queryable, run: RunStart): Promise<string> {
  const r = await q.query<{ id: string }>(
    sql(
      `INSERT INTO airmirror.sync_runs (source_id, table_id, table_name, kind, rebuild, schema_hash)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text AS id`,
      [
        run.sourceId,
        run.tableId ?? null,
        run.tableName ?? null,
        run.kind,
        run.rebuild ?? false,
        run.schemaHash ?? null,
      ],
    ),
  );
  return r.rows[0].id;
}

/** Clamp to Postgres integer so a runaway counter can never make the bookkeeping write fail. */
const int = (n: number) => Math.min(Math.max(0, Math.trunc(n)), 2_147_483_647);

/**
 * The counters so far of every open run, in one statement. Only rows still `running` are touched,
 * so a write that races the run's end (finishRun) never overwrites its final figures.
 */
export async function recordProgress(q: Queryable, runs: [string, RunCounters][]): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.sync_runs AS r SET
         requests = v.requests, records_seen = v.seen, records_upserted = v.upserted
       FROM unnest($1::bigint[], $2::int[], $3::int[], $4::int[]) AS v(id, requests, seen, upserted)
       WHERE r.id = v.id AND r.status = 'running'`,
      [
        runs.map(([id]) => id),
        runs.map(([, c]) => int(c.requests)),
        runs.map(([, c]) => int(c.seen)),
        runs.map(([, c]) => int(c.inserted + c.updated)),
      ],
    ),
  );
}

/** Fails every run still `running` (of these sources, or all): its process is gone. */
export async function failRunningRuns(q: Queryable, error: string, sourceIds?: string[]): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.sync_runs SET status = 'failed', finished_at = now(), error = $2
        WHERE status = 'running' AND ($1::text[] IS NULL OR source_id = ANY($1))`,
      [sourceIds ?? null, error],
    ),
  );
}

/** An `airmirror.sync_runs` row. */
export interface SyncRun {
  id: string;
  sourceId: string;
  tableId: string | null;
  tableName: string | null;
  kind: RunKind;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  requests: number;
  recordsSeen: number;
  recordsUpserted: number;
  recordsSkipped: number;
  recordsDeleted: number;
  cellErrors: number;
  error: string | null;
  recordsInserted: number;
  recordsUpdated: number;
  recordsUnchanged: number;
  recordsCached: number;
  recordsFencedOut: number;
  listingRestarts: number;
  rebuild: boolean;
  schemaHash: string | null;
}

/** The running run of a table, with its source's base and schema (for tables without a row yet). */
export type RunningRun = Pick<SyncRun, 'sourceId' | 'tableName' | 'kind' | 'startedAt' | 'recordsSeen'> & {
  tableId: string;
  baseId: string;
  schemaName: string;
};

/** The latest running run of each table (migration 008 indexes exactly these rows). */
export async function runningRuns(q: Queryable, sourceId?: string): Promise<RunningRun[]> {
  type Raw = Pick<SyncRunsRow, 'source_id' | 'table_name' | 'kind' | 'started_at' | 'records_seen'> &
    Pick<SourcesRow, 'base_id' | 'schema_name'> & { table_id: string };
  const r = await q.query<Raw>(
    sql(
      `SELECT DISTINCT ON (r.source_id, r.table_id) r.source_id, r.table_id, r.table_name, r.kind,
              r.started_at, r.records_seen, s.base_id, s.schema_name
         FROM airmirror.sync_runs r JOIN airmirror.sources s ON s.id = r.source_id
        WHERE r.status = 'running' AND r.table_id IS NOT NULL ${sourceId === undefined ? '' : 'AND r.source_id = $1'}
        ORDER BY r.source_id, r.table_id, r.id DESC`,
      sourceId === undefined ? [] : [sourceId],
    ),
  );
  return r.rows.map((x) => ({
    sourceId: x.source_id,
    tableId: x.table_id,
    tableName: x.table_name,
    kind: x.kind,
    startedAt: x.started_at,
    recordsSeen: x.records_seen,
    baseId: x.base_id,
    schemaName: x.schema_name,
  }));
}

/**
 * Records the end of a run and, given a logger, writes the one log line per sync run (issue 7)
 * with its figures — here, where every run ends, so `start` and `sync --once` log alike.
 */
export async function finishRun(
  q: Queryable,
  runId: string,
  status: Exclude<RunStatus, 'running'>,
  c: RunCounters,
  error?: string,
  log?: Pick<Logger, 'info' | 'warn'>,
): Promise<void> {
  const r = await q.query<{
    source_id: string;
    table_id: string | null;
    mirror_table: string | null;
    kind: string;
    ms: number;
  }>(
    sql(
      `UPDATE airmirror.sync_runs SET
         status = $2, finished_at = now(), requests = $3, records_seen = $4,
         records_upserted = $5, records_skipped = $6, records_deleted = $7, cell_errors = $8,
         records_inserted = $9, records_updated = $10, records_unchanged = $11, records_cached = $12,
         records_fenced_out = $13, listing_restarts = $14, error = $15
       WHERE id = $1
       RETURNING source_id, table_id, kind,
                 (SELECT t.mirror_table FROM airmirror.tables t
                   WHERE t.source_id = sync_runs.source_id AND t.table_id = sync_runs.table_id) AS mirror_table,
                 (EXTRACT(EPOCH FROM (finished_at - started_at)) * 1000)::float8 AS ms`,
      [
        runId,
        status,
        int(c.requests),
        int(c.seen),
        int(c.inserted + c.updated),
        int(c.cached + c.unchanged + c.fencedOut),
        int(c.deleted),
        int(c.cellErrors),
        int(c.inserted),
        int(c.updated),
        int(c.unchanged),
        int(c.cached),
        int(c.fencedOut),
        int(c.listingRestarts),
        error ?? null,
      ],
    ),
  );
  const row = r.rows[0];
  if (!log || !row) return;
  const line = {
    run: runId,
    source: row.source_id,
    table: row.mirror_table ?? row.table_id,
    table_id: row.table_id,
    kind: row.kind,
    status,
    ms: Math.round(row.ms),
    ...c,
    ...(error ? { error } : {}),
  };
  if (status === 'failed') log.warn(line, 'sync run');
  else log.info(line, 'sync run');
}

/** Adds what one write (the write path's or a swap fill's) did to a run's counters. */
export function countWrite(
  run: RunCounters,
  w: { inserted: number; updated: number; unchanged: number; cellErrors: number; fencedOut?: number },
): void {
  run.inserted += w.inserted;
  run.updated += w.updated;
  run.unchanged += w.unchanged;
  run.fencedOut += w.fencedOut ?? 0;
  run.cellErrors += w.cellErrors;
}

/** Adds `b` into `a` (a source-level summary of its tables' runs). */
export function addCounters(a: RunCounters, b: RunCounters): RunCounters {
  for (const k of Object.keys(a) as (keyof RunCounters)[]) a[k] += b[k];
  return a;
}
