/**
 * The state of a source's base-schema reads (`airmirror.sources.schema_*`, migration 030). Every
 * sync starts with one; while they fail (Airtable down, five 503s in a row…), the source is
 * retried with a growing delay (sync/schema-retry.ts) and `status`, the `airmirror.source_status`
 * view and `/healthz` show the error and since when.
 */
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import type { SourcesRow } from './rows.ts';

/** A read succeeded: the error is forgotten. */
export async function recordSchemaReadOk(q: Queryable, sourceId: string, at: Date): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.sources SET schema_checked_at = $2, schema_error = NULL, schema_failing_since = NULL,
              schema_failures = 0, schema_retry_at = NULL
        WHERE id = $1`,
      [sourceId, at],
    ),
  );
}

/**
 * A read failed: the error, since when reads fail, and when to try again — `retryAt(failures)` is
 * given the number of failures in a row, this one included. Resolves with that number.
 */
export async function recordSchemaReadFailure(
  q: Queryable,
  sourceId: string,
  error: string,
  at: Date,
  retryAt: (failures: number) => Date,
): Promise<number> {
  const r = await q.query<Pick<SourcesRow, 'schema_failures'>>(
    sql(
      `UPDATE airmirror.sources SET schema_error = $2, schema_failing_since = coalesce(schema_failing_since, $3),
              schema_failures = schema_failures + 1
        WHERE id = $1 RETURNING schema_failures`,
      [sourceId, error, at],
    ),
  );
  const failures = r.rows[0]?.schema_failures ?? 1;
  await q.query(
    sql('UPDATE airmirror.sources SET schema_retry_at = $2 WHERE id = $1', [sourceId, retryAt(failures)]),
  );
  return failures;
}

export interface FailingSchemaRead {
  sourceId: string;
  baseId: string;
  error: string;
  since: Date;
  failures: number;
  retryAt: Date | null;
}

/** Sources whose last schema read failed, oldest failure first. */
export async function failingSchemaReads(q: Queryable): Promise<FailingSchemaRead[]> {
  const r = await q.query<
    Pick<
      SourcesRow,
      'id' | 'base_id' | 'schema_error' | 'schema_failing_since' | 'schema_failures' | 'schema_retry_at'
    >
  >(
    sql(
      `SELECT id, base_id, schema_error, schema_failing_since, schema_failures, schema_retry_at
         FROM airmirror.sources WHERE schema_error IS NOT NULL ORDER BY schema_failing_since, id`,
    ),
  );
  return r.rows.map((x) => ({
    sourceId: x.id,
    baseId: x.base_id,
    error: x.schema_error!,
    since: x.schema_failing_since ?? new Date(0),
    failures: x.schema_failures,
    retryAt: x.schema_retry_at,
  }));
}
