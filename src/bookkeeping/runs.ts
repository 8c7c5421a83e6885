import type { Queryable } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { sql } from '../db/sql.ts';

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
