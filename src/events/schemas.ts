/**
 * The subscription API's requests and answers as zod schemas: the routes validate with them and
 * `GET /api/openapi.json` is generated from them, so the two cannot disagree. A pure module (zod
 * and the event vocabulary only), so src/api can document it without pulling in the routes.
 *
 * The subscription secret is write-only: it is in the request schema and in no answer.
 */
import { z } from 'zod';
import { EVENT_TYPES } from './types.ts';

const NOT_AN_OBJECT = 'The request body must be a JSON object.';
const listOf = (field: string) => `${field} must be a list of non-empty strings.`;

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** `http://user:pass@…`: fetch refuses such URLs, and a stored password would be shown and logged. */
function hasCredentials(s: string): boolean {
  try {
    const u = new URL(s);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

/** Where events go: an absolute http(s) URL without credentials (receivers check the signature). */
const receiverUrl = z
  .string({ error: 'url is required.' })
  .min(1, 'url is required.')
  .refine(isHttpUrl, 'url must be an absolute http(s) URL.')
  .refine(
    (s) => !hasCredentials(s),
    'url must not contain a user name or password; a receiver authenticates airmirror by the X-Airmirror-Signature HMAC.',
  )
  .meta({ format: 'uri', description: 'Where events are POSTed (http or https, no credentials in it)' });

const signingSecret = z
  .string({ error: 'secret is required.' })
  .min(1, 'secret is required.')
  .min(16, 'secret must be 16 to 512 characters long.')
  .max(512, 'secret must be 16 to 512 characters long.');

/** Seconds the replaced secret keeps signing beside the new one; Stripe's default overlap is a day. */
export const DEFAULT_SECRET_OVERLAP_SECONDS = 24 * 60 * 60;
const MAX_SECRET_OVERLAP_SECONDS = 7 * 24 * 60 * 60;

const nonEmptyStrings = (field: string) =>
  z
    .array(z.string({ error: listOf(field) }).min(1, listOf(field)), { error: listOf(field) })
    .nullable()
    .optional();

export const CreateSubscriptionRequest = z
  .strictObject(
    {
      url: receiverUrl,
      secret: signingSecret.meta({
        description: 'Key of the HMAC-SHA256 in `X-Airmirror-Signature`; stored encrypted, never returned',
        writeOnly: true,
      }),
      tables: nonEmptyStrings('tables').meta({
        description:
          'Only events of these tables (mirror table name, `schema.table`, or Airtable table id); absent, null or [] = all',
      }),
      event_types: z
        .array(
          z.enum(EVENT_TYPES, {
            error: (issue) =>
              typeof issue.input === 'string' && issue.input !== ''
                ? `event_types: unknown type "${issue.input}" (known: ${EVENT_TYPES.join(', ')}).`
                : listOf('event_types'),
          }),
          { error: listOf('event_types') },
        )
        .nullable()
        .optional()
        .meta({ description: 'Only these event types; absent, null or [] = all' }),
    },
    { error: NOT_AN_OBJECT },
  )
  .meta({ id: 'CreateSubscriptionRequest' });
export type CreateSubscriptionRequest = z.output<typeof CreateSubscriptionRequest>;

/**
 * `PATCH /subscriptions/{id}`: only the fields sent change. `active: false` pauses delivery (events
 * wait, in order, and go out on resume); a new `url` is tried at once; a new `secret` signs from now
 * on while the replaced one keeps signing beside it for `secret_overlap_seconds` (both signatures in
 * `X-Airmirror-Signature`), and `secret_overlap_seconds` alone moves the end of a running overlap.
 */
export const PatchSubscriptionRequest = z
  .strictObject(
    {
      url: receiverUrl.optional(),
      active: z.boolean({ error: 'active must be true or false.' }).optional(),
      secret: signingSecret.optional().meta({
        description:
          'A new HMAC key; the one it replaces keeps signing too (a second signature) until the overlap ends. Stored encrypted, never returned',
        writeOnly: true,
      }),
      secret_overlap_seconds: z
        .number({ error: 'secret_overlap_seconds must be a whole number of seconds.' })
        .int('secret_overlap_seconds must be a whole number of seconds.')
        .min(0, `secret_overlap_seconds must be 0 to ${MAX_SECRET_OVERLAP_SECONDS}.`)
        .max(MAX_SECRET_OVERLAP_SECONDS, `secret_overlap_seconds must be 0 to ${MAX_SECRET_OVERLAP_SECONDS}.`)
        .optional()
        .meta({
          description: `How long the replaced secret keeps signing beside the new one (default ${DEFAULT_SECRET_OVERLAP_SECONDS}, 0 = not at all); sent alone, ends a running overlap that many seconds from now`,
        }),
      tables: nonEmptyStrings('tables').meta({
        description: 'As on create; absent leaves them, null or [] = all',
      }),
      event_types: z
        .array(
          z.enum(EVENT_TYPES, {
            error: (issue) =>
              typeof issue.input === 'string' && issue.input !== ''
                ? `event_types: unknown type "${issue.input}" (known: ${EVENT_TYPES.join(', ')}).`
                : listOf('event_types'),
          }),
          { error: listOf('event_types') },
        )
        .nullable()
        .optional(),
    },
    { error: NOT_AN_OBJECT },
  )
  .meta({ id: 'PatchSubscriptionRequest' });
export type PatchSubscriptionRequest = z.output<typeof PatchSubscriptionRequest>;

/** `GET /subscriptions/{id}/deliveries`. */
export const DeliveriesQuery = z.strictObject({
  status: z.enum(['delivered', 'failed'], { error: 'status must be delivered or failed.' }).optional(),
  event_id: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, 'event_id must be an event id.')
    .optional(),
  limit: z
    .string()
    .regex(/^[1-9][0-9]{0,3}$/, 'limit must be 1 to 1000.')
    .refine((s) => Number(s) <= 1000, 'limit must be 1 to 1000.')
    .optional(),
});

/** `POST …/dead-letters/{eventId}/replay`: an outbox id is a positive integer. */
export const DeadLetterParams = z.object({
  id: z.string(),
  eventId: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, 'eventId must be an event id.')
    .refine((s) => Number.isSafeInteger(Number(s)), 'eventId must be an event id.'),
});

// ---- answers ---------------------------------------------------------------------------------

const timestamp = z.string().meta({ format: 'date-time' });

export const SubscriptionResponse = z
  .strictObject({
    id: z.string(),
    url: z.string(),
    tables: z.array(z.string()).nullable(),
    event_types: z.array(z.enum(EVENT_TYPES)).nullable(),
    active: z
      .boolean()
      .meta({ description: 'false while paused: events wait and go out, in order, on resume' }),
    created_at: timestamp.nullable(),
    updated_at: timestamp.nullable(),
    second_signature_until: timestamp.nullable().meta({
      description:
        'Until then, events carry a second signature made with the secret the last rotation replaced',
    }),
    delivery: z.strictObject({
      cursor: z.number().int().meta({ description: 'Id of the last outbox event handled' }),
      attempts: z.number().int(),
      failing_event_id: z.number().int().nullable(),
      failing_since: timestamp.nullable(),
      next_attempt_at: timestamp.nullable(),
      last_error: z.string().nullable(),
      delivered_count: z.number().int(),
      last_delivered_at: timestamp.nullable(),
    }),
  })
  .meta({ id: 'Subscription' });
export type SubscriptionResponse = z.output<typeof SubscriptionResponse>;

/** The body POSTed to a receiver (src/events/event.ts); keys appear only where they apply. */
export const ChangeEventSchema = z
  .strictObject({
    id: z.number().int().meta({ description: 'Outbox id: unique, increasing; the idempotency key' }),
    type: z.enum(EVENT_TYPES),
    source: z.string().nullable(),
    schema: z.string().nullable(),
    table: z.string().nullable(),
    table_id: z.string().nullable(),
    record_id: z.string(),
    origin: z.enum(['proxy', 'sql', 'webhook', 'sweep', 'incremental', 'append']),
    before: z.record(z.string(), z.unknown()).nullable().optional(),
    after: z.record(z.string(), z.unknown()).nullable().optional(),
    changed_columns: z.array(z.string()).optional(),
    occurred_at: timestamp,
  })
  .meta({ id: 'ChangeEvent' });

export const DeadLetterResponse = z
  .strictObject({
    event_id: z.number().int(),
    event: ChangeEventSchema,
    attempts: z.number().int(),
    last_error: z.string().nullable(),
    failed_at: timestamp.nullable(),
    replayed_at: timestamp.nullable(),
  })
  .meta({ id: 'DeadLetter' });
export type DeadLetterResponse = z.output<typeof DeadLetterResponse>;

/** One delivery attempt of an event to the receiver, as the subscription's delivery log keeps it. */
export const DeliveryResponse = z
  .strictObject({
    event_id: z.number().int(),
    attempt: z
      .number()
      .int()
      .meta({ description: '1 for the first try of this event, 2 for its first retry, …' }),
    status: z.enum(['delivered', 'failed']),
    http_status: z
      .number()
      .int()
      .nullable()
      .meta({ description: "The receiver's answer; null when none came" }),
    error: z.string().nullable(),
    replay: z.boolean().meta({ description: 'A dead letter replayed by hand' }),
    attempted_at: timestamp,
    delivered_at: timestamp.nullable(),
  })
  .meta({ id: 'Delivery' });
export type DeliveryResponse = z.output<typeof DeliveryResponse>;

export const ReplayResponse = z
  .strictObject({
    event_id: z.number().int(),
    delivered: z.literal(true),
    status: z.number().int().meta({ description: "The receiver's HTTP status" }),
    replayed_at: timestamp,
  })
  .meta({ id: 'Replay' });
export type ReplayResponse = z.output<typeof ReplayResponse>;

/**
 * DRF-shaped pages; everything fits one page, so `next`/`previous` are always null (a delivery
 * list is the newest `limit` attempts of the bounded log).
 */
const page = <T extends z.ZodType>(item: T, id: string) =>
  z
    .strictObject({ count: z.number().int(), next: z.null(), previous: z.null(), results: z.array(item) })
    .meta({ id });

export const SubscriptionList = page(SubscriptionResponse, 'SubscriptionList');
export const DeadLetterList = page(DeadLetterResponse, 'DeadLetterList');
export const DeliveryList = page(DeliveryResponse, 'DeliveryList');
