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

/**
 * `POST /sources/{id}/webhook/inputs` (also `/sources/{id}/update-webhook-inputs`, PostHog's
 * `update-webhook-inputs`), which takes PostHog's shape, `{"inputs": {"signing_secret": …}}`:
 * - no body, or `{}`: rotate — a new hook at Airtable with a new MAC secret replaces the old one;
 * - `{"inputs": {"signing_secret": "<macSecretBase64>"}}`: the MAC secret of a hook registered
 *   outside airmirror (Airtable shows it once, when the hook is created, docs/airtable-reference.md
 *   §4.1), which pings are then verified with; the hook at Airtable is not touched;
 * - `{"inputs": {}}`: a 400, as PostHog answers "No inputs provided"; unknown inputs too.
 */
export const WebhookInputsRequest = z
  .strictObject(
    {
      inputs: z
        .strictObject(
          {
            signing_secret: z
              .string({ error: "signing_secret must be the webhook's macSecretBase64." })
              .refine(
                isMacSecret,
                "signing_secret must be the webhook's macSecretBase64 (base64 of 16 bytes or more).",
              )
              .optional()
              .meta({
                description:
                  'The MAC secret Airtable gave when the hook was created (macSecretBase64); stored encrypted, never returned',
                writeOnly: true,
              }),
          },
          { error: 'inputs must be an object.' },
        )
        .refine((i) => i.signing_secret !== undefined, {
          message: 'No inputs provided: send inputs.signing_secret, or no body to rotate the webhook',
        })
        .optional(),
    },
    { error: 'The request body must be a JSON object.' },
  )
  .meta({
    id: 'WebhookInputsRequest',
    description: 'No body (or {}) rotates; inputs.signing_secret sets the MAC secret',
  });

function isMacSecret(s: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.length % 4 !== 0) return false;
  return atob(s).length >= 16;
}

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

/** What the inputs route answers: PostHog's `{success: true}`, with the registration beside it. */
export const WebhookInputsResponse = WebhookResponse.extend({ success: z.literal(true) }).meta({
  id: 'WebhookInputs',
});

// The service builds the answer; this fails to compile if the two shapes drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<WebhookView, z.output<typeof WebhookResponse>> = true;
void sameShape;
