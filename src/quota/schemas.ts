/**
 * The quota API's requests and answers as zod schemas (validation and `GET /api/openapi.json`).
 * A pure module: zod only.
 */
import { z } from 'zod';

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
    monthly_budget: z
      .union([z.number(), z.literal('unlimited')])
      .meta({ description: 'Calls a month for this token (its workspace)' }),
    apps_share_percent: z
      .number()
      .meta({ description: "The part of the budget background work leaves to the apps' calls" }),
    month_to_date: z
      .number()
      .meta({ description: 'Calls counted this UTC month, every process and the proxy' }),
    projection: z.number().meta({ description: 'Calls at the end of the month at the rate so far' }),
    background_limit: z.number().nullable().meta({
      description: "What background work may spend (the budget less the apps' share); null: unlimited",
    }),
    spacing: z.number().meta({
      description:
        'How many times their usual interval drain windows and scheduled syncs take now (1: as usual)',
    }),
    spaced_out: z
      .boolean()
      .meta({ description: 'The projection passes background_limit: background work is spaced out' }),
    paused: z
      .enum(['billing', 'apps_share'])
      .nullable()
      .meta({ description: "Background work stopped: Airtable's billing 429, or background's part spent" }),
    resumes_at: z.string().nullable().meta({ description: 'When a pause ends (the month resets)' }),
    background: z.string().meta({ description: 'What background work does now, in a sentence' }),
    sources: z.array(
      z.object({
        source_id: z.string(),
        max_lag_seconds: z.number().meta({ description: 'Its freshness target (PATCH /api/sources/{id})' }),
        drain_window_seconds: z
          .number()
          .meta({ description: 'How long pings gather now: under the target, longer while calls run short' }),
      }),
    ),
  })
  .meta({ id: 'QuotaEntry' });

export const QuotaResponse = z.object({ quotas: z.array(QuotaEntry) }).meta({ id: 'Quota' });
