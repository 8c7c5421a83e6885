import { quoteIdent } from '../db/quote.ts';
import { sql, type Sql } from '../db/sql.ts';
import type { ChangeEvent, DeliveryAttempt } from './types.ts';

/** SQL of src/events, as small statements; values are always parameters. */

const SUB_COLUMNS = `id, url, secret_encrypted, tables, event_types, active, created_at, cursor, attempts,
  failing_event_id, failing_since, next_attempt_at, last_error, delivered_count, last_delivered_at,
  previous_secret_encrypted, previous_secret_expires_at, updated_at, delivery_log_seq`;

/**
 * The delivery attempts kept per subscription (GET /api/subscriptions/{id}/deliveries): a ring of
 * this many slots, the newest attempt overwriting the oldest, so the log never grows with traffic.
 */
export const DELIVERY_LOG_SIZE = 1000;

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

/**
 * Changes a subscription (PATCH): only the fields given. `secret` rotates: the current secret
 * becomes the previous one, signing beside the new one until `previousExpiresAt`. `retryNow`
 * clears a pending retry's wait (resumed, or moved to a new URL: try it at once).
 */
export const updateSubscription = (
  id: string,
  c: {
    url?: string;
    active?: boolean;
    secretEncrypted?: string;
    previousExpiresAt?: Date | null;
    tables?: string[] | null;
    eventTypes?: string[] | null;
    retryNow: boolean;
  },
): Sql =>
  sql(
    `UPDATE airmirror.subscriptions SET
       url = coalesce($2, url),
       active = coalesce($3, active),
       previous_secret_encrypted = CASE WHEN $4::text IS NOT NULL THEN secret_encrypted ELSE previous_secret_encrypted END,
       secret_encrypted = coalesce($4, secret_encrypted),
       previous_secret_expires_at = CASE WHEN $5::boolean THEN $6::timestamptz ELSE previous_secret_expires_at END,
       tables = CASE WHEN $7::boolean THEN $8::text[] ELSE tables END,
       event_types = CASE WHEN $9::boolean THEN $10::text[] ELSE event_types END,
       next_attempt_at = CASE WHEN $11::boolean THEN NULL ELSE next_attempt_at END,
       updated_at = now()
     WHERE id = $1
     RETURNING ${SUB_COLUMNS}`,
    [
      id,
      c.url ?? null,
      c.active ?? null,
      c.secretEncrypted ?? null,
      c.previousExpiresAt !== undefined,
      c.previousExpiresAt ?? null,
      c.tables !== undefined,
      c.tables ?? null,
      c.eventTypes !== undefined,
      c.eventTypes ?? null,
      c.retryNow,
    ],
  );

/** Wakes every deliverer listening on the outbox channel (a subscription resumed or moved). */
export const notifyDeliverers = (channel: string): Sql => sql('SELECT pg_notify($1, $2)', [channel, '']);

/**
 * Records delivery attempts in the subscription's ring (DELIVERY_LOG_SIZE slots, newest over
 * oldest), numbering them from its `delivery_log_seq`; one statement. At most the last
 * DELIVERY_LOG_SIZE of `attempts` are kept (one statement may not write a slot twice).
 */
export const recordDeliveries = (
  subscriptionId: string,
  attempts: readonly DeliveryAttempt[],
  at: Date,
  replay = false,
): Sql => {
  const kept = attempts.slice(-DELIVERY_LOG_SIZE);
  return sql(
    `WITH s AS (
       UPDATE airmirror.subscriptions SET delivery_log_seq = delivery_log_seq + $2
        WHERE id = $1 RETURNING delivery_log_seq - $2 AS base)
     INSERT INTO airmirror.deliveries AS d
       (subscription_id, slot, seq, event_id, attempt, ok, http_status, error, replay, attempted_at)
     SELECT $1, ((s.base + r.ord) % $3)::int, s.base + r.ord, r.event_id, r.attempt, r.ok, r.http_status,
            r.error, $9, $10
       FROM s, unnest($4::bigint[], $5::int[], $6::boolean[], $7::int[], $8::text[])
            WITH ORDINALITY AS r(event_id, attempt, ok, http_status, error, ord)
     ON CONFLICT (subscription_id, slot) DO UPDATE SET seq = excluded.seq, event_id = excluded.event_id,
       attempt = excluded.attempt, ok = excluded.ok, http_status = excluded.http_status,
       error = excluded.error, replay = excluded.replay, attempted_at = excluded.attempted_at`,
    [
      subscriptionId,
      kept.length,
      DELIVERY_LOG_SIZE,
      kept.map((a) => a.eventId),
      kept.map((a) => a.attempt),
      kept.map((a) => a.ok),
      kept.map((a) => a.httpStatus),
      kept.map((a) => a.error),
      replay,
      at,
    ],
  );
};

/** A subscription's delivery attempts, newest first, optionally only failed/delivered or of one event. */
export const listDeliveries = (
  subscriptionId: string,
  f: { ok?: boolean; eventId?: number; limit: number },
): Sql =>
  sql(
    `SELECT seq, event_id, attempt, ok, http_status, error, replay, attempted_at
       FROM airmirror.deliveries
      WHERE subscription_id = $1 AND ($2::boolean IS NULL OR ok = $2) AND ($3::bigint IS NULL OR event_id = $3)
      ORDER BY seq DESC LIMIT $4`,
    [subscriptionId, f.ok ?? null, f.eventId ?? null, f.limit],
  );

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

/** Events some active subscription has not received yet (the metrics' outbox depth). */
export const outboxDepth = (): Sql =>
  sql(`SELECT count(*)::text AS n FROM airmirror.outbox o
        WHERE EXISTS (SELECT 1 FROM airmirror.subscriptions s WHERE s.active AND s.cursor < o.id)`);

/**
 * The lowest cursor of all subscriptions, or null when there are none. Paused ones count: their
 * events wait for them in the outbox (delivered in order on resume), so pruning stops below them.
 */
export const minSubscriptionCursor = (): Sql =>
  sql('SELECT min(cursor) AS cursor FROM airmirror.subscriptions');

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
