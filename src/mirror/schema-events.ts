import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import type { SchemaChangeSummary } from './schema-diff.ts';

/**
 * One `schema.changed` event for a base's schema change (flow 5, docs/schema-changes.md): into the
 * outbox like every change event (op `schema`, no table or record of its own), with what changed
 * in `after` — tables and columns added, renamed, retyped and dropped, and the reader objects the
 * change could not keep. Delivered in outbox order, so after the row events the change caused
 * that were written before it, and before the ones written after it.
 */
export async function writeSchemaChangedEvent(
  q: Queryable,
  e: { sourceId: string; schema: string; summary: SchemaChangeSummary },
): Promise<void> {
  await q.query(
    sql(
      `WITH e AS (
         INSERT INTO airmirror.outbox
           (source_id, table_id, mirror_schema, mirror_table, record_id, op, origin, before, after, changed_columns)
         VALUES ($1, NULL, $2, NULL, NULL, 'schema', 'schema', NULL, $3::jsonb, NULL) RETURNING 1)
       SELECT pg_notify('airmirror_outbox', '') FROM e`,
      [e.sourceId, e.schema, JSON.stringify(e.summary)],
    ),
  );
}
