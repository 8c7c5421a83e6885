import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';

/**
 * Statements on airmirror.call_quotas and sources.max_lag_seconds (migration 060), and
 * airmirror.source_token_keys (061).
 */

export interface QuotaRow {
  tokenKey: string;
  /** True when a budget was set for this token (else AIRMIRROR_MONTHLY_CALL_BUDGET applies). */
  budgetSet: boolean;
  /** The set budget; null with budgetSet is "unlimited". */
  monthlyCalls: number | null;
  billingPausedUntil: Date | null;
}

export async function loadQuotaRows(q: Queryable): Promise<QuotaRow[]> {
  const r = await q.query<{
    token_key: string;
    budget_set: boolean;
    monthly_calls: string | null;
    billing_paused_until: Date | null;
  }>(
    sql(
      'SELECT token_key, budget_set, monthly_calls, billing_paused_until FROM airmirror.call_quotas ORDER BY token_key',
    ),
  );
  return r.rows.map((x) => ({
    tokenKey: x.token_key,
    budgetSet: x.budget_set,
    monthlyCalls: x.monthly_calls === null ? null : Number(x.monthly_calls),
    billingPausedUntil: x.billing_paused_until,
  }));
}

/** Sets (null: unlimited) or clears (`set: false`) a token's own budget. */
export async function saveBudget(
  q: Queryable,
  tokenKey: string,
  budget: { set: boolean; monthlyCalls: number | null },
): Promise<void> {
  await q.query(
    sql(
      `INSERT INTO airmirror.call_quotas (token_key, budget_set, monthly_calls) VALUES ($1, $2, $3)
       ON CONFLICT (token_key) DO UPDATE SET budget_set = excluded.budget_set,
         monthly_calls = excluded.monthly_calls, updated_at = now()`,
      [tokenKey, budget.set, budget.set ? budget.monthlyCalls : null],
    ),
  );
}

/** Airtable's billing 429 for this token: background work waits until `until` (the month's reset). */
export async function saveBillingPause(
  q: Queryable,
  tokenKey: string,
  until: Date,
  seenAt: Date,
): Promise<void> {
  await q.query(
    sql(
      `INSERT INTO airmirror.call_quotas (token_key, billing_paused_until, billing_seen_at) VALUES ($1, $2, $3)
       ON CONFLICT (token_key) DO UPDATE SET billing_paused_until = greatest(
         airmirror.call_quotas.billing_paused_until, excluded.billing_paused_until),
         billing_seen_at = excluded.billing_seen_at, updated_at = now()`,
      [tokenKey, until, seenAt],
    ),
  );
}

export interface SourceQuotaRow {
  id: string;
  maxLagSeconds: number;
  /** The token key last recorded for it (null: never resolved by a running process). */
  tokenKey: string | null;
}

export async function loadSourceQuotaRows(q: Queryable): Promise<SourceQuotaRow[]> {
  const r = await q.query<{ id: string; max_lag_seconds: number; token_key: string | null }>(
    sql(
      `SELECT s.id, s.max_lag_seconds, k.token_key FROM airmirror.sources s
       LEFT JOIN airmirror.source_token_keys k ON k.source_id = s.id ORDER BY s.id`,
    ),
  );
  return r.rows.map((x) => ({ id: x.id, maxLagSeconds: x.max_lag_seconds, tokenKey: x.token_key }));
}

/** Records the token keys of sources (only those that changed are passed). */
export async function saveSourceTokenKeys(q: Queryable, keys: Array<[string, string]>): Promise<void> {
  if (keys.length === 0) return;
  await q.query(
    sql(
      `INSERT INTO airmirror.source_token_keys (source_id, token_key)
       SELECT k.id, k.key FROM unnest($1::text[], $2::text[]) AS k(id, key)
       JOIN airmirror.sources s ON s.id = k.id
       ON CONFLICT (source_id) DO UPDATE SET token_key = excluded.token_key, seen_at = now()`,
      [keys.map(([id]) => id), keys.map(([, key]) => key)],
    ),
  );
}

/**
 * Each source's token key, resolved by `keyOf` (a source whose token cannot be resolved is left
 * out), and recorded where it changed — for readers without the tokens (`airmirror status`). A
 * failure to record is left for the next time: the keys are returned either way.
 */
export async function resolveSourceTokenKeys(
  q: Queryable,
  sources: readonly SourceQuotaRow[],
  keyOf: (sourceId: string) => Promise<string | undefined>,
): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  const changed: Array<[string, string]> = [];
  // Side by side: each is a round trip (the source's row) and a decryption, and the scheduler's
  // pass waits for them — 50 new sources one after another held their first runs half a second.
  const found = await Promise.all(sources.map((s) => keyOf(s.id).catch(() => undefined)));
  sources.forEach((s, i) => {
    const key = found[i];
    if (!key) return;
    keys.set(s.id, key);
    if (key !== s.tokenKey) changed.push([s.id, key]);
  });
  if (changed.length > 0) await saveSourceTokenKeys(q, changed).catch(() => undefined);
  return keys;
}
