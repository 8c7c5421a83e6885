/** Shapes shared by the outbox reader, the deliverer and the subscription API. */

export type OutboxOp = 'insert' | 'update' | 'delete';
export type OutboxOrigin = 'proxy' | 'sql' | 'webhook' | 'sweep' | 'incremental' | 'append';

/** One row of `airmirror.outbox`, written by the mirror's single write path (src/mirror). */
export interface OutboxRow {
  id: number;
  source_id: string | null;
  table_id: string | null;
  mirror_schema: string | null;
  mirror_table: string | null;
  record_id: string;
  op: OutboxOp;
  origin: OutboxOrigin;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  changed_columns: string[] | null;
  created_at: Date;
}

export const EVENT_TYPES = ['record.inserted', 'record.updated', 'record.deleted'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The JSON body POSTed to a subscriber. */
export interface ChangeEvent {
  /** The outbox id: unique and increasing, the receiver's idempotency key. */
  id: number;
  type: EventType;
  source: string | null;
  schema: string | null;
  table: string | null;
  table_id: string | null;
  record_id: string;
  origin: OutboxOrigin;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  changed_columns?: string[];
  occurred_at: string;
}

/** A subscription as stored (the encrypted secret never leaves src/events). */
export interface SubscriptionRow {
  id: string;
  url: string;
  secret_encrypted: string;
  tables: string[] | null;
  event_types: string[] | null;
  active: boolean;
  created_at: Date;
  cursor: number;
  attempts: number;
  failing_event_id: number | null;
  failing_since: Date | null;
  next_attempt_at: Date | null;
  last_error: string | null;
  delivered_count: number;
  last_delivered_at: Date | null;
  /** The secret the last rotation replaced; it signs too until previous_secret_expires_at. */
  previous_secret_encrypted: string | null;
  previous_secret_expires_at: Date | null;
  updated_at: Date;
  /** Delivery attempts recorded so far (the log keeps the last DELIVERY_LOG_SIZE). */
  delivery_log_seq: number;
}

/** One delivery attempt in a subscription's log (`airmirror.deliveries`). */
export interface DeliveryRow {
  seq: number;
  event_id: number;
  attempt: number;
  ok: boolean;
  http_status: number | null;
  error: string | null;
  replay: boolean;
  attempted_at: Date;
}

/** A delivery attempt to record: the event, which try it was, and what came of it. */
export interface DeliveryAttempt {
  eventId: number;
  attempt: number;
  ok: boolean;
  httpStatus: number | null;
  error: string | null;
}

export interface DeadLetterRow {
  subscription_id: string;
  event_id: number;
  event: ChangeEvent;
  attempts: number;
  last_error: string | null;
  failed_at: Date;
  replayed_at: Date | null;
}
