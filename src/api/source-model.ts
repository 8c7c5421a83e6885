/**
 * `PATCH /api/sources/{id}`'s request (src/api/source-settings.ts), as a zod schema the route
 * validates with and `GET /api/openapi.json` is generated from. A pure module (zod only).
 */
import { z } from 'zod';

/** Fields of a source that are fixed once it exists, and why. */
export const FIXED_SOURCE_FIELDS: Readonly<Record<string, string>> = {
  base_id: 'A source mirrors one base for good; create another source for another base',
  schema_name:
    'The mirror tables live in this schema; create another source (and delete this one) to move them',
};

export const PatchSourceRequest = z
  .strictObject({
    token: z.string().min(1, 'must not be empty').max(1000).optional().meta({
      description:
        'A new Airtable personal access token: checked against the base, stored encrypted, never returned; used from the next request on',
      writeOnly: true,
    }),
    name: z.string().max(200).nullable().optional(),
    description: z.string().max(2000).nullable().optional(),
    max_lag_seconds: z.number().int().min(1).max(86_400).optional().meta({
      description:
        "Freshness target of the source's webhook tables, seconds (1–86400, default 60): pings within a shorter window become one payload read, so a busy base costs a read per window, not per change",
    }),
  })
  .meta({ id: 'PatchSourceRequest' });
