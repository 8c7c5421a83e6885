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

const nonEmptyStrings = (field: string) =>
  z
    .array(z.string({ error: listOf(field) }).min(1, listOf(field)), { error: listOf(field) })
    .nullable()
    .optional();

export const CreateSubscriptionRequest = z
  .strictObject(
    {
      url: z
        .string({ error: 'url is required.' })
        .min(1, 'url is required.')
        .refine(isHttpUrl, 'url must be an absolute http(s) URL.')
        .meta({ format: 'uri', description: 'Where events are POSTed (http or https)' }),
      secret: z
        .string({ error: 'secret is required.' })
        .min(1, 'secret is required.')
        .min(16, 'secret must be 16 to 512 characters long.')
        .max(512, 'secret must be 16 to 512 characters long.')
        .meta({
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
    active: z.boolean(),
    created_at: timestamp.nullable(),
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
    record_id: z.string().nullable().meta({ description: 'null for schema.changed (an event of the base)' }),
    origin: z.enum(['proxy', 'webhook', 'sweep', 'incremental', 'append', 'schema']),
    before: z.record(z.string(), z.unknown()).nullable().optional(),
    after: z.record(z.string(), z.unknown()).nullable().optional(),
    changed_columns: z.array(z.string()).optional(),
    changes: z.record(z.string(), z.unknown()).optional().meta({
      description:
        'schema.changed only: {tables: {added, renamed, dropped}, columns: {added, renamed, retyped, dropped}, reader_objects}',
    }),
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

export const ReplayResponse = z
  .strictObject({
    event_id: z.number().int(),
    delivered: z.literal(true),
    status: z.number().int().meta({ description: "The receiver's HTTP status" }),
    replayed_at: timestamp,
  })
  .meta({ id: 'Replay' });
export type ReplayResponse = z.output<typeof ReplayResponse>;

/** DRF-shaped pages; everything fits one page, so `next`/`previous` are always null. */
const page = <T extends z.ZodType>(item: T, id: string) =>
  z
    .strictObject({ count: z.number().int(), next: z.null(), previous: z.null(), results: z.array(item) })
    .meta({ id });

export const SubscriptionList = page(SubscriptionResponse, 'SubscriptionList');
export const DeadLetterList = page(DeadLetterResponse, 'DeadLetterList');
