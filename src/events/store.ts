import { quoteIdent } from '../db/quote.ts';
import { sql, type Sql } from '../db/sql.ts';
import type { ChangeEvent } from './types.ts';

/** SQL of src/events, as small statements; values are always parameters. */

const SUB_COLUMNS = `id, url, secret_encrypted, tables, event_types, active, created_at, cursor, attempts,
  failing_event_id, failing_since, next_attempt_at, last_error, delivered_count, last_delivered_at`;

export const insertSubscription = (s: {
  id: string;
  url: string;
  secretEncrypted: string;
  tables: string[] | null;
  eventTypes: string[] | null;
}): Sql =>
  // A new subscription receives changes from now on: it starts at the last id handed out (not
  // the newest row left, which after pruning can be far below it and look like a gap).
  sql(
    `INSERT INTO airmirror.subscriptions (id, url, secret_encrypted, tables, event_types, cursor)
     VALUES ($1, $2, $3, $4, $5, GREATEST(
       (SELECT coalesce(max(id), 0) FROM airmirror.outbox),
       coalesce(pg_sequence_last_value(pg_get_serial_sequence('airmirror.outbox', 'id')::regclass), 0)))
     RETURNING ${SUB_COLUMNS}`,
    [s.id, s.url, s.secretEncrypted, s.tables, s.eventTypes],
  );

export const listSubscriptions = (): Sql =>
  sql(`SELECT ${SUB_COLUMNS} FROM airmirror.subscriptions ORDER BY created_at, id`);

export const getSubscription = (id: string): Sql =>
  sql(`SELECT ${SUB_COLUMNS} FROM airmirror.subscriptions WHERE id = $1`, [id]);

export const deleteSubscription = (id: string): Sql =>
  sql('DELETE FROM airmirror.subscriptions WHERE id = $1 RETURNING id', [id]);

/** Subscribes the session to a notification channel (the outbox listener's dedicated connection). */
export const listenTo = (channel: string): Sql => sql(`LISTEN ${quoteIdent(channel)}`);

/** Active subscriptions that have no retry pending after `now`. */
export const dueSubscriptionIds = (now: Date): Sql =>
  sql(
    `SELECT id FROM airmirror.subscriptions
     WHERE active AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
     ORDER BY id`,
    [now],
  );

/** When the earliest pending retry of an active subscription falls due (null: none pending). */
export const nextAttemptAt = (): Sql =>
  sql('SELECT min(next_attempt_at) AS at FROM airmirror.subscriptions WHERE active');

/** Locks one subscription for a delivery pass; another process holding it makes this return nothing. */
export const lockSubscription = (id: string): Sql =>
  sql(`SELECT ${SUB_COLUMNS} FROM airmirror.subscriptions WHERE id = $1 AND active FOR UPDATE SKIP LOCKED`, [
    id,
  ]);

/** Outbox rows after `cursor` up to the safe horizon, oldest first. */
export const outboxAfter = (cursor: number, horizon: number, limit: number): Sql =>
  sql(
    `SELECT id, source_id, table_id, mirror_schema, mirror_table, record_id, op, origin, before, after,
       changed_columns, created_at
     FROM airmirror.outbox WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`,
    [cursor, horizon, limit],
  );

/** Visible outbox ids above `after` (to find the contiguous, safe prefix). */
export const outboxIdsAfter = (after: number, limit: number): Sql =>
  sql('SELECT id FROM airmirror.outbox WHERE id > $1 ORDER BY id LIMIT $2', [after, limit]);

export const minOutboxId = (): Sql => sql('SELECT min(id) AS id FROM airmirror.outbox');

export const maxOutboxId = (): Sql => sql('SELECT coalesce(max(id), 0) AS id FROM airmirror.outbox');

/** xid8 bounds of the current snapshot, as text (they can exceed 2^53). */
export const currentSnapshot = (): Sql =>
  sql(
    `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,
            pg_snapshot_xmax(pg_current_snapshot())::text AS xmax`,
  );

export const saveDeliveryState = (s: {
  id: string;
  cursor: number;
  attempts: number;
  failingEventId: number | null;
  failingSince: Date | null;
  nextAttemptAt: Date | null;
  lastError: string | null;
  delivered: number;
  lastDeliveredAt: Date | null;
}): Sql =>
  sql(
    `UPDATE airmirror.subscriptions SET cursor = $2, attempts = $3, failing_event_id = $4, failing_since = $5,
       next_attempt_at = $6, last_error = $7, delivered_count = delivered_count + $8,
       last_delivered_at = coalesce($9, last_delivered_at)
     WHERE id = $1`,
    [
      s.id,
      s.cursor,
      s.attempts,
      s.failingEventId,
      s.failingSince,
      s.nextAttemptAt,
      s.lastError,
      s.delivered,
      s.lastDeliveredAt,
    ],
  );

export const insertDeadLetter = (d: {
  subscriptionId: string;
  event: ChangeEvent;
  attempts: number;
  lastError: string | null;
  failedAt: Date;
}): Sql =>
  sql(
    `INSERT INTO airmirror.dead_letters (subscription_id, event_id, event, attempts, last_error, failed_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (subscription_id, event_id) DO UPDATE SET attempts = excluded.attempts,
       last_error = excluded.last_error, failed_at = excluded.failed_at, replayed_at = NULL`,
    [d.subscriptionId, d.event.id, JSON.stringify(d.event), d.attempts, d.lastError, d.failedAt],
  );

export const listDeadLetters = (subscriptionId: string): Sql =>
  sql(
    `SELECT subscription_id, event_id, event, attempts, last_error, failed_at, replayed_at
     FROM airmirror.dead_letters WHERE subscription_id = $1 ORDER BY event_id`,
    [subscriptionId],
  );

export const getDeadLetter = (subscriptionId: string, eventId: number): Sql =>
  sql(
    `SELECT subscription_id, event_id, event, attempts, last_error, failed_at, replayed_at
     FROM airmirror.dead_letters WHERE subscription_id = $1 AND event_id = $2`,
    [subscriptionId, eventId],
  );

export const markDeadLetterReplayed = (
  subscriptionId: string,
  eventId: number,
  at: Date,
  ok: boolean,
  error: string | null,
): Sql =>
  sql(
    `UPDATE airmirror.dead_letters SET attempts = attempts + 1,
       replayed_at = CASE WHEN $4 THEN $3::timestamptz ELSE replayed_at END,
       last_error = CASE WHEN $4 THEN last_error ELSE $5 END
     WHERE subscription_id = $1 AND event_id = $2`,
    [subscriptionId, eventId, at, ok, error],
  );

/** The lowest cursor of all active subscriptions, or null when there are none. */
/** Events some active subscription has not received yet (the metrics' outbox depth). */
export const outboxDepth = (): Sql =>
  sql(`SELECT count(*)::text AS n FROM airmirror.outbox o
        WHERE EXISTS (SELECT 1 FROM airmirror.subscriptions s WHERE s.active AND s.cursor < o.id)`);

export const minActiveCursor = (): Sql =>
  sql('SELECT min(cursor) AS cursor FROM airmirror.subscriptions WHERE active');

/** Deletes at most `limit` outbox rows at or below `upTo` (in batches, to keep locks short). */
export const pruneOutboxUpTo = (upTo: number, limit: number): Sql =>
  sql(
    `DELETE FROM airmirror.outbox WHERE id IN
       (SELECT id FROM airmirror.outbox WHERE id <= $1 ORDER BY id LIMIT $2)`,
    [upTo, limit],
  );

/** With no subscriptions, rows older than the retention go (nobody can ever want them). */
export const pruneOutboxBefore = (before: Date, upTo: number, limit: number): Sql =>
  sql(
    `DELETE FROM airmirror.outbox WHERE id IN
       (SELECT id FROM airmirror.outbox WHERE id <= $3 AND created_at < $1 ORDER BY id LIMIT $2)`,
    [before, limit, upTo],
  );
