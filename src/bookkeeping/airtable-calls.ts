import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';

/**
 * Airtable calls counted this month (docs/airtable-reference.md §2.1: the monthly quota is per
 * workspace; docs/DESIGN.md invariant 13). Every call that passed the shared request budget —
 * syncer, webhooks, API lookups, the apps' calls through any proxy process or Worker — is counted
 * by the claim that granted it (src/airtable/shared-budget.ts), per token key, base and UTC month.
 *
 * Keys, never tokens (invariant 8): `tokenKeyOf(token)` (src/airtable/rate-budget.ts) names a
 * token's row. `'*'` collects what cannot be attributed without letting junk grow the table: a
 * token the proxy has not yet seen Airtable accept (its first call, or a made-up one), and a base
 * the process does not track (neither configured nor seen valid lately).
 */
export interface CallCount {
  tokenKey: string;
  baseId: string;
  calls: number;
}

/** Month-to-date counts (the month of `at`, UTC; default now), the latest claims included. */
export async function callsThisMonth(
  q: Queryable,
  opts: { tokenKey?: string; at?: Date } = {},
): Promise<CallCount[]> {
  const r = await q.query<{ token_key: string; base_id: string; calls: string | number }>(
    sql(
      `WITH m AS (SELECT date_trunc('month', coalesce($2::timestamptz, now()) AT TIME ZONE 'UTC')::date AS month)
       SELECT token_key, base_id, sum(calls)::bigint AS calls FROM (
         SELECT token_key, base_id, calls FROM airmirror.airtable_calls c, m WHERE c.month = m.month
         UNION ALL
         SELECT token_key, base_id, calls FROM airmirror.airtable_calls_pending p, m WHERE p.month = m.month
       ) x
       WHERE $1::text IS NULL OR token_key = $1
       GROUP BY token_key, base_id ORDER BY token_key, base_id`,
      [opts.tokenKey ?? null, opts.at ?? null],
    ),
  );
  return r.rows.map((row) => ({ tokenKey: row.token_key, baseId: row.base_id, calls: Number(row.calls) }));
}

/** Month-to-date calls per token key, all bases together. */
export async function callsThisMonthByToken(
  q: Queryable,
  opts: { at?: Date } = {},
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const c of await callsThisMonth(q, opts)) out.set(c.tokenKey, (out.get(c.tokenKey) ?? 0) + c.calls);
  return out;
}
