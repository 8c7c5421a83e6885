import type { Migration } from './migration.ts';

/**
 * The direct-write guard (src/mirror/write-guard.ts, issue 15): the trigger function, and its
 * statement-level trigger on every mirror table that exists already (new ones get it from the
 * DDL). Numbered after the issue rather than the next free number, so migrations added on other
 * branches meanwhile keep theirs; the runner applies every missing version in order.
 */
export const m015_write_guard: Migration = {
  version: 15,
  name: 'write guard',
  up: [
    `CREATE OR REPLACE FUNCTION airmirror.guard_direct_write() RETURNS trigger LANGUAGE plpgsql AS $airmirror_guard$
BEGIN
  RAISE EXCEPTION '% on mirror table %.% bypasses airmirror', TG_OP, quote_ident(TG_TABLE_SCHEMA), quote_ident(TG_TABLE_NAME)
    USING ERRCODE = '42501',
      DETAIL = 'Mirror tables are copies of Airtable: a direct write never reaches Airtable and the next sync undoes it.',
      HINT = 'Write through the airmirror Postgres endpoint or the HTTP proxy.';
END
$airmirror_guard$`,
    `DO $airmirror_m015$
DECLARE r record;
BEGIN
  FOR r IN SELECT s.schema_name, t.mirror_table FROM airmirror.tables t
           JOIN airmirror.sources s ON s.id = t.source_id
           WHERE t.vanished_at IS NULL AND t.mirror_table IS NOT NULL LOOP
    IF to_regclass(format('%I.%I', r.schema_name, r.mirror_table)) IS NOT NULL THEN
      EXECUTE format('DROP TRIGGER IF EXISTS airmirror_guard ON %I.%I', r.schema_name, r.mirror_table);
      EXECUTE format('CREATE TRIGGER airmirror_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I.%I FOR EACH STATEMENT '
        'WHEN (current_setting(''airmirror.writer'', true) IS DISTINCT FROM ''on'') '
        'EXECUTE FUNCTION airmirror.guard_direct_write()', r.schema_name, r.mirror_table);
    END IF;
  END LOOP;
END
$airmirror_m015$`,
  ],
};
