import { loadSource } from '../bookkeeping/sources.ts';
import { tablesOfSyncType } from '../bookkeeping/tables.ts';
import type { Queryable } from '../db/database.ts';
import { sql, type Sql } from '../db/sql.ts';

/** One `airmirror.webhooks` row: the Airtable webhook that feeds a source. */
export interface WebhookRow {
  source_id: string;
  webhook_id: string;
  mac_secret_encrypted: string;
  cursor: number;
  expiration_time: Date | null;
  notification_url: string;
  status: WebhookStatus;
  last_error: string | null;
  last_ping_at: Date | null;
  last_payload_at: Date | null;
  recreated_count: number;
  created_at: Date;
  refreshed_at: Date | null;
}

/** `active` normally; `failed` when re-creating it did not work (last_error says why). */
export type WebhookStatus = 'active' | 'failed';

const COLUMNS = `source_id, webhook_id, mac_secret_encrypted, cursor, expiration_time, notification_url, status,
  last_error, last_ping_at, last_payload_at, recreated_count, created_at, refreshed_at`;

export async function loadWebhook(
  q: Queryable,
  sourceId: string,
  lock = false,
): Promise<WebhookRow | undefined> {
  const r = await q.query<WebhookRow>(
    sql(`SELECT ${COLUMNS} FROM airmirror.webhooks WHERE source_id = $1${lock ? ' FOR UPDATE' : ''}`, [
      sourceId,
    ]),
  );
  return r.rows[0] ? { ...r.rows[0], cursor: Number(r.rows[0].cursor) } : undefined;
}

export async function listWebhookRows(q: Queryable): Promise<WebhookRow[]> {
  const r = await q.query<WebhookRow>(sql(`SELECT ${COLUMNS} FROM airmirror.webhooks ORDER BY source_id`));
  return r.rows.map((row) => ({ ...row, cursor: Number(row.cursor) }));
}

/** Stores a (new) registration; a re-created hook replaces the old one and starts at cursor 1. */
export async function saveRegistration(
  q: Queryable,
  w: {
    sourceId: string;
    webhookId: string;
    macSecretEncrypted: string;
    expirationTime: Date | null;
    notificationUrl: string;
    now: Date;
    recreated: boolean;
    note?: string | null;
  },
): Promise<void> {
  await q.query(
    sql(
      `INSERT INTO airmirror.webhooks (source_id, webhook_id, mac_secret_encrypted, cursor, expiration_time,
         notification_url, status, last_error, created_at, refreshed_at)
       VALUES ($1, $2, $3, 1, $4, $5, 'active', $8, $6, $6)
       ON CONFLICT (source_id) DO UPDATE SET webhook_id = excluded.webhook_id,
         mac_secret_encrypted = excluded.mac_secret_encrypted, cursor = 1,
         expiration_time = excluded.expiration_time, notification_url = excluded.notification_url,
         status = 'active', last_error = excluded.last_error, created_at = excluded.created_at,
         refreshed_at = excluded.refreshed_at,
         recreated_count = airmirror.webhooks.recreated_count + CASE WHEN $7 THEN 1 ELSE 0 END`,
      [
        w.sourceId,
        w.webhookId,
        w.macSecretEncrypted,
        w.expirationTime,
        w.notificationUrl,
        w.now,
        w.recreated,
        w.note ?? null,
      ],
    ),
  );
}

/** Replaces the stored (encrypted) MAC secret of a source's hook. */
export async function saveMacSecret(
  q: Queryable,
  sourceId: string,
  macSecretEncrypted: string,
): Promise<void> {
  await q.query(
    sql('UPDATE airmirror.webhooks SET mac_secret_encrypted = $2 WHERE source_id = $1', [
      sourceId,
      macSecretEncrypted,
    ]),
  );
}

export async function deleteWebhookRow(q: Queryable, sourceId: string): Promise<void> {
  await q.query(sql('DELETE FROM airmirror.webhooks WHERE source_id = $1', [sourceId]));
}

export async function saveCursor(q: Queryable, sourceId: string, cursor: number, now: Date): Promise<void> {
  await q.query(
    sql('UPDATE airmirror.webhooks SET cursor = $2, last_payload_at = $3 WHERE source_id = $1', [
      sourceId,
      cursor,
      now,
    ]),
  );
}

export async function saveRefreshed(
  q: Queryable,
  sourceId: string,
  expiration: Date | null,
  now: Date,
): Promise<void> {
  await q.query(
    sql('UPDATE airmirror.webhooks SET expiration_time = $2, refreshed_at = $3 WHERE source_id = $1', [
      sourceId,
      expiration,
      now,
    ]),
  );
}

export async function notePing(q: Queryable, sourceId: string, now: Date): Promise<void> {
  await q.query(sql('UPDATE airmirror.webhooks SET last_ping_at = $2 WHERE source_id = $1', [sourceId, now]));
}

export async function saveProblem(
  q: Queryable,
  sourceId: string,
  status: WebhookStatus,
  error: string | null,
): Promise<void> {
  await q.query(
    sql('UPDATE airmirror.webhooks SET status = $2, last_error = $3 WHERE source_id = $1', [
      sourceId,
      status,
      error,
    ]),
  );
}

/** The source's tables that use the `webhook` sync type (table ids and mirror names). */
export async function webhookTables(
  q: Queryable,
  sourceId: string,
): Promise<{ table_id: string; table_name: string; mirror_table: string; row_count: number }[]> {
  return (await tablesOfSyncType(q, sourceId, 'webhook')).map((t) => ({
    table_id: t.tableId,
    table_name: t.tableName,
    mirror_table: t.mirrorTable,
    row_count: t.rowCount,
  }));
}

/** Marks tables for a catch-up sweep (shown by `status`): a column of airmirror.tables, src/bookkeeping's. */
export { setNeedsCatchup } from '../bookkeeping/table-config.ts';

export async function loadSourceBase(
  q: Queryable,
  sourceId: string,
): Promise<{ id: string; baseId: string } | undefined> {
  const s = await loadSource(q, sourceId);
  return s ? { id: s.id, baseId: s.baseId } : undefined;
}

/** Every source's webhook (or one source's) as `status` shows it: no secret, no id. */
export async function webhookHealth(
  q: Queryable,
  sourceId?: string,
): Promise<
  {
    source_id: string;
    status: string;
    last_ping_at: Date | null;
    last_error: string | null;
    expiration_time: Date | null;
  }[]
> {
  const r = await q.query<{
    source_id: string;
    status: string;
    last_ping_at: Date | null;
    last_error: string | null;
    expiration_time: Date | null;
  }>(
    sql(
      `SELECT source_id, status, last_ping_at, last_error, expiration_time FROM airmirror.webhooks
        ${sourceId === undefined ? '' : 'WHERE source_id = $1'}`,
      sourceId === undefined ? [] : [sourceId],
    ),
  );
  return r.rows;
}

/**
 * The cross-process lock of a source's webhook work (registration changes and payload drains),
 * taken on a session of its own for the length of the work: ('amhk', hashtext(source id)).
 */
export const lockHookWork = (sourceId: string): Sql =>
  sql('SELECT pg_advisory_lock($1, hashtext($2))', [0x616d686b, sourceId]);
