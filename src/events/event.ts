import { createHmac } from 'node:crypto';
import type { ChangeEvent, EventType, OutboxOp, OutboxRow, SubscriptionRow } from './types.ts';

const TYPE_BY_OP: ReadonlyMap<OutboxOp, EventType> = new Map([
  ['insert', 'record.inserted'],
  ['update', 'record.updated'],
  ['delete', 'record.deleted'],
  ['schema', 'schema.changed'],
]);

export function eventTypeOf(op: OutboxOp): EventType {
  const type = TYPE_BY_OP.get(op);
  if (!type) throw new Error(`unknown outbox op ${JSON.stringify(op)}`);
  return type;
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
  if (row.op === 'schema') return { ...event, changes: row.after ?? {} };
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
    const names =
      event.type === 'schema.changed'
        ? tablesOfSchemaChange(event)
        : [event.table, event.table_id, event.schema && event.table && `${event.schema}.${event.table}`];
    if (!names.some((n) => n && sub.tables!.includes(n))) return false;
  }
  return true;
}

/** The tables a `schema.changed` event names (mirror names old and new, Airtable ids, qualified). */
function tablesOfSchemaChange(event: ChangeEvent): (string | null | undefined)[] {
  const out: (string | null | undefined)[] = [];
  const visit = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const key of ['mirror_table', 'table_id', 'from', 'to']) {
        const name = o[key];
        if (typeof name !== 'string') continue;
        if (key === 'from' || key === 'to') {
          if (!('column' in o)) out.push(name, event.schema && `${event.schema}.${name}`);
        } else {
          out.push(name, key === 'mirror_table' && event.schema ? `${event.schema}.${name}` : undefined);
        }
      }
      for (const [k, x] of Object.entries(o)) if (k !== 'reader_objects') visit(x);
    }
  };
  visit(event.changes);
  return out;
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
