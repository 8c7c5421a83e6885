import { createHmac } from 'node:crypto';
import type { ChangeEvent, EventType, OutboxOp, OutboxRow, SubscriptionRow } from './types.ts';

const TYPE_BY_OP: Record<OutboxOp, EventType> = {
  insert: 'record.inserted',
  update: 'record.updated',
  delete: 'record.deleted',
};

export function eventTypeOf(op: OutboxOp): EventType {
  return TYPE_BY_OP[op];
}

/** The event a subscriber receives for one outbox row; only the keys that apply to its type. */
export function toChangeEvent(row: OutboxRow): ChangeEvent {
  const event: ChangeEvent = {
    id: Number(row.id),
    type: eventTypeOf(row.op),
    source: row.source_id,
    schema: row.mirror_schema,
    table: row.mirror_table,
    table_id: row.table_id,
    record_id: row.record_id,
    origin: row.origin,
    occurred_at: new Date(row.created_at).toISOString(),
  };
  if (row.op !== 'insert') event.before = row.before;
  if (row.op !== 'delete') event.after = row.after;
  if (row.op === 'update') event.changed_columns = row.changed_columns ?? [];
  return event;
}

/** Whether a subscription's filters let this event through (no filter = everything). */
export function matchesSubscription(
  sub: Pick<SubscriptionRow, 'tables' | 'event_types'>,
  event: ChangeEvent,
): boolean {
  if (sub.event_types && sub.event_types.length > 0 && !sub.event_types.includes(event.type)) return false;
  if (sub.tables && sub.tables.length > 0) {
    const names = [
      event.table,
      event.table_id,
      event.schema && event.table && `${event.schema}.${event.table}`,
    ];
    if (!names.some((n) => n && sub.tables!.includes(n))) return false;
  }
  return true;
}

/** `sha256=<hex HMAC-SHA256 of the exact body bytes>`, keyed with the subscription secret. */
export function signEventBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/**
 * The `X-Airmirror-Signature` value: one `sha256=<hex>` per signing secret, comma-separated, the
 * current secret's first. One entry normally; two while a rotated secret's overlap runs, so a
 * receiver that still has the old secret and one that has the new one both find theirs (Stripe
 * sends several `v1=` signatures the same way). Receivers accept the event when any entry matches.
 */
export function signatureHeader(secrets: readonly string[], body: string): string {
  return secrets.map((s) => signEventBody(s, body)).join(',');
}
