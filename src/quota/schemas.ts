/**
 * The quota API's requests and answers as zod schemas (validation and `GET /api/openapi.json`).
 * A pure module: zod only.
 */
import { z } from 'zod';

export const FreshnessRequest = z
  .strictObject({
    max_lag_seconds: z.number().int().min(1).max(86_400).meta({
      description:
        "Freshness target of the source's webhook tables: pings within a shorter window become one payload read",
    }),
  })
  .meta({ id: 'FreshnessRequest' });

export const FreshnessResponse = z
  .object({
    source_id: z.string(),
    max_lag_seconds: z.number(),
    drain_window_seconds: z
      .number()
      .meta({ description: 'How long pings gather now: under the target, longer while calls run short' }),
  })
  .meta({ id: 'Freshness' });

export const QuotaBudgetRequest = z
  .strictObject({
    monthly_calls: z
      .union([z.number().int().min(0).max(1_000_000_000), z.literal('unlimited'), z.null()])
      .meta({
        description: 'Calls a month for this token; "unlimited"; null: back to AIRMIRROR_MONTHLY_CALL_BUDGET',
      }),
  })
  .meta({ id: 'QuotaBudgetRequest' });

export const QuotaEntry = z
  .object({
    token_key: z.string().meta({ description: 'A key derived from the token (never the token)' }),
    sources: z.array(z.string()),
    monthly_budget: z.number().nullable().meta({ description: 'null: unlimited' }),
    month_to_date: z
      .number()
      .meta({ description: 'Calls counted this UTC month, every process and the proxy' }),
    projection: z.number().meta({ description: 'Calls at the end of the month at the rate so far' }),
    background_limit: z.number().nullable(),
    spacing: z
      .number()
      .meta({ description: 'How much background work stretches its windows (1: not at all)' }),
    paused: z.enum(['billing', 'apps_share']).nullable(),
    resumes_at: z.string().nullable(),
  })
  .meta({ id: 'QuotaEntry' });

export const QuotaResponse = z.object({ quotas: z.array(QuotaEntry) }).meta({ id: 'Quota' });
