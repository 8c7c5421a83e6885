import type { Migration } from './migration.ts';

/**
 * Schema changes applied in place (issue 13; src/mirror/schema-change.ts and docs/schema-changes.md):
 *
 * - what is mirrored, per table: `mirrored` (an excluded table has no mirror table and is never
 *   listed) and `excluded_fields` (Airtable field ids never requested nor stored);
 * - `fill_pending`: a table whose new or retyped columns still wait for their values from
 *   Airtable (its next run is a full one, then it is cleared);
 * - `schema_warnings`: what the last schema changes could not keep (a reader's view that selected
 *   a deleted column) or could only map approximately (an unknown field type), as
 *   `[{kind, message, at}]`;
 * - excluded fields keep a row in `airmirror.columns` (no column name), so writes keyed by field
 *   name can ignore them;
 * - the state of a source's schema reads (a failing read is retried with backoff while it fails,
 *   and `status` and `/healthz` say so);
 * - the outbox also carries `schema.changed` events: op `schema`, base-level (no table, no record);
 * - `row_count` becomes the current number of rows, kept by the write path in the same statement
 *   as the rows (it was the count at the end of the last run): counted once here.
 */
export const m030_schema_changes: Migration = {
  version: 30,
  name: 'schema changes',
  up: [
    `ALTER TABLE airmirror.tables
      ADD COLUMN mirrored boolean NOT NULL DEFAULT true,
      ADD COLUMN excluded_fields text[] NOT NULL DEFAULT '{}',
      ADD COLUMN fill_pending boolean NOT NULL DEFAULT false,
      ADD COLUMN schema_warnings jsonb NOT NULL DEFAULT '[]'`,
    `ALTER TABLE airmirror.columns
      ALTER COLUMN column_name DROP NOT NULL,
      ADD COLUMN mirrored boolean NOT NULL DEFAULT true`,
    `ALTER TABLE airmirror.sources
      ADD COLUMN schema_checked_at timestamptz,
      ADD COLUMN schema_error text,
      ADD COLUMN schema_failing_since timestamptz,
      ADD COLUMN schema_failures integer NOT NULL DEFAULT 0,
      ADD COLUMN schema_retry_at timestamptz`,
    `ALTER TABLE airmirror.outbox DROP CONSTRAINT outbox_op_check`,
    `ALTER TABLE airmirror.outbox ADD CONSTRAINT outbox_op_check
      CHECK (op IN ('insert', 'update', 'delete', 'schema'))`,
    `ALTER TABLE airmirror.outbox
      ALTER COLUMN table_id DROP NOT NULL,
      ALTER COLUMN mirror_table DROP NOT NULL,
      ALTER COLUMN record_id DROP NOT NULL`,
    `DO $count$
    DECLARE r record; n bigint;
    BEGIN
      FOR r IN SELECT t.id, s.schema_name, t.mirror_table
                 FROM airmirror.tables t JOIN airmirror.sources s ON s.id = t.source_id
                WHERE t.vanished_at IS NULL LOOP
        IF to_regclass(format('%I.%I', r.schema_name, r.mirror_table)) IS NOT NULL THEN
          EXECUTE format('SELECT count(*) FROM %I.%I', r.schema_name, r.mirror_table) INTO n;
          UPDATE airmirror.tables SET row_count = n WHERE id = r.id;
        END IF;
      END LOOP;
    END $count$`,
  ],
};
