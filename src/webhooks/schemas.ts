/**
 * The source-webhook API's requests and answers as zod schemas: the routes validate with them and
 * `GET /api/openapi.json` is generated from them. A pure module (zod only, plus a type check
 * against the service's view), so src/api can document it without pulling in the service.
 *
 * The MAC secret Airtable hands out at creation (docs/airtable-reference.md §4.1) is never part of any request or
 * answer: the service stores it encrypted and only the ping receiver reads it.
 */
import { z } from 'zod';
import type { WebhookView } from './service.ts';

/**
 * `POST /sources/{id}/webhook` and `…/webhook/inputs` take no settings: the hook always covers the
 * whole base (WEBHOOK_SPECIFICATION) and its URL comes from AIRMIRROR_PUBLIC_URL. An empty body or
 * `{}` is accepted; any field is refused, so nobody believes a setting was applied.
 */
export const WebhookRequest = z
  .strictObject({}, { error: 'The request body must be a JSON object.' })
  .meta({ id: 'WebhookRequest', description: 'No settings: send no body, or {}' });

const timestamp = z.string().meta({ format: 'date-time' });

export const WebhookResponse = z
  .strictObject({
    source_id: z.string(),
    webhook_id: z.string().meta({ description: "Airtable's webhook id (ach…)" }),
    notification_url: z.string().meta({ format: 'uri', description: 'Where Airtable sends pings' }),
    status: z.string().meta({ description: '`active`, or what went wrong (e.g. `failed`)' }),
    cursor: z
      .number()
      .int()
      .meta({ description: 'Next payload cursor to read (docs/airtable-reference.md §4.5)' }),
    expiration_time: timestamp.nullable(),
    last_error: z.string().nullable(),
    last_ping_at: timestamp.nullable(),
    last_payload_at: timestamp.nullable(),
    recreated_count: z.number().int(),
    created_at: timestamp,
    refreshed_at: timestamp.nullable(),
    tables: z.array(z.string()).meta({ description: 'Tables of the source synced with the webhook type' }),
  })
  .meta({ id: 'Webhook' });

// The service builds the answer; this fails to compile if the two shapes drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<WebhookView, z.output<typeof WebhookResponse>> = true;
void sameShape;
