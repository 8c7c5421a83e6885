import type { Queryable } from '../db/database.ts';
import { quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';

/**
 * The direct-write guard. Mirror tables are copies of Airtable: a row written straight into one
 * (a client connected to Postgres itself running `update customers …`) never reaches Airtable and
 * is undone by the next sweep, silently. A statement-level BEFORE trigger on every live mirror
 * table refuses such writes (INSERT, UPDATE, DELETE, TRUNCATE; COPY FROM fires INSERT's) with an error that points to the Postgres endpoint and the HTTP proxy.
 *
 * airmirror's own sessions are exempt: they carry `airmirror.writer = on`, set at connection
 * start (src/db/database.ts passes `-c airmirror.writer=on`) and again, transaction-local, by the
 * first statement of every write-path transaction (src/mirror/apply.ts, for poolers that drop
 * startup options). The trigger's WHEN clause reads the setting, so airmirror's writes never even
 * enter the function: no statement, round trip or PL/pgSQL call is added to the write path.
 *
 * A guard against mistakes, not a security boundary: anyone who may write the table can set the
 * variable too. AIRMIRROR_PG_WRITE_GUARD=off turns the check off (setWriteGuard).
 */

/** The session setting that marks airmirror's own writers. */
export const WRITER_SETTING = 'airmirror.writer';
/** The startup option that sets it for a whole connection. */
export const WRITER_STARTUP_OPTION = `-c ${WRITER_SETTING}=on`;
/** The trigger's name on each mirror table. */
export const GUARD_TRIGGER = 'airmirror_guard';
/** The SQLSTATE of a refused direct write (insufficient_privilege). */
export const GUARD_SQLSTATE = '42501';

const HINT =
  'Write through the airmirror Postgres endpoint (INSERT, UPDATE or DELETE on the table: it sends the change ' +
  'to Airtable first) or through the HTTP proxy. An operator can turn this check off with AIRMIRROR_PG_WRITE_GUARD=off.';

/** The guard function: raising (`enabled`) or letting every write through. */
export function guardFunctionSql(enabled: boolean): string {
  const body = enabled
    ? `BEGIN
  RAISE EXCEPTION '% on mirror table %.% bypasses airmirror', TG_OP, quote_ident(TG_TABLE_SCHEMA), quote_ident(TG_TABLE_NAME)
    USING ERRCODE = '${GUARD_SQLSTATE}',
      DETAIL = 'Mirror tables are copies of Airtable: a direct write never reaches Airtable and the next sync undoes it.',
      HINT = '${HINT.replace(/'/g, "''")}';
END`
    : 'BEGIN RETURN NULL; END';
  return `CREATE OR REPLACE FUNCTION airmirror.guard_direct_write() RETURNS trigger LANGUAGE plpgsql AS $airmirror_guard$
${body}
$airmirror_guard$`;
}

/** The statements that (re)install the guard trigger on one live mirror table. */
export function guardTriggerStatements(schema: string, table: string): string[] {
  const name = quoteQualified(schema, table);
  return [
    `DROP TRIGGER IF EXISTS ${GUARD_TRIGGER} ON ${name}`,
    `CREATE TRIGGER ${GUARD_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${name} FOR EACH STATEMENT
       WHEN (current_setting('${WRITER_SETTING}', true) IS DISTINCT FROM 'on')
       EXECUTE FUNCTION airmirror.guard_direct_write()`,
  ];
}

/** `set_config` that marks the current transaction as airmirror's own (a SELECT-list expression). */
export const WRITER_SET_CONFIG = `set_config('${WRITER_SETTING}', 'on', true)`;

/** Turns the check on or off for every mirror table at once (start-up, from AIRMIRROR_PG_WRITE_GUARD). */
export async function setWriteGuard(q: Queryable, enabled: boolean): Promise<void> {
  await q.query(sql(guardFunctionSql(enabled)));
}
