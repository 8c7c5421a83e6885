import { sql, type Sql } from '../db/sql.ts';
import type { BudgetRules, ClaimItem } from './budget-types.ts';

/**
 * The shared budget's statements (the rows and the claim function: src/db/migrations/020_budget.ts).
 * `now` is a time in epoch ms for tests on a virtual clock; null uses the server's clock, which
 * every process and Worker agrees on.
 */

/** One round trip: slots for `items`, in order. Rows: { delay, retry, reason } per item. */
export function claimSql(
  items: ClaimItem[],
  rules: BudgetRules,
  now: number | null,
  marginMs = 0,
  holder: string | null = null,
): Sql {
  return {
    text: 'SELECT delay, retry, reason FROM airmirror.budget_claim($1, $2, $3, $4, $5, $6, $7, $8)',
    values: [
      items.map((i) => i.baseId),
      items.map((i) => i.tokenKey ?? null),
      items.map((i) => i.high),
      items.map((i) => i.countToken),
      items.map((i) => i.countBase),
      [
        rules.perSecond,
        rules.perTokenPerSecond,
        rules.windowMs,
        rules.highHorizonMs,
        rules.normalHorizonMs,
        rules.headroom,
        rules.highRecentMs,
        rules.normalGraceMs,
        rules.baseGapMs,
        rules.tokenGapMs,
        Math.max(0, Math.round(marginMs)),
      ],
      now,
      holder,
    ],
    name: 'airmirror_budget_claim',
  };
}

/** Nobody starts a request to the base for `ms` (a 429 RATE_LIMIT_REACHED, docs/airtable-reference.md §2.1). */
export function penalizeSql(baseId: string, ms: number, now: number | null): Sql {
  return sql(
    `WITH t AS (SELECT coalesce($3::bigint, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now)
     INSERT INTO airmirror.budget_keys AS k (key, blocked_until, updated_at)
     SELECT 'b:' || $1, t.now + $2, t.now FROM t
     ON CONFLICT (key) DO UPDATE
       SET blocked_until = greatest(k.blocked_until, excluded.blocked_until), updated_at = excluded.updated_at`,
    [baseId, Math.max(0, Math.round(ms)), now],
  );
}

/** Calls granted while Postgres was away (by the in-process fallback), added to the month's counts. */
export function addCallsSql(
  rows: Array<{ tokenKey: string; baseId: string; calls: number }>,
  now: number | null,
): Sql {
  return sql(
    `INSERT INTO airmirror.airtable_calls_pending AS p (month, token_key, base_id, calls)
     SELECT date_trunc('month', coalesce(to_timestamp($4::bigint / 1000.0), clock_timestamp()) AT TIME ZONE 'UTC')::date,
            r.tk, r.bs, sum(r.n)
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS r(tk, bs, n) GROUP BY r.tk, r.bs
     ON CONFLICT (month, token_key, base_id) DO UPDATE SET calls = p.calls + excluded.calls`,
    [rows.map((r) => r.tokenKey), rows.map((r) => r.baseId), rows.map((r) => r.calls), now],
  );
}

/**
 * Moves the counts of the claims (UNLOGGED, cheap) into the durable monthly table. Safe beside
 * claims and other processes' rollups: a count added meanwhile lands in a new pending row.
 */
export function rollupCallsSql(): Sql {
  return sql(
    `WITH moved AS (DELETE FROM airmirror.airtable_calls_pending RETURNING month, token_key, base_id, calls)
     INSERT INTO airmirror.airtable_calls AS c (month, token_key, base_id, calls)
     SELECT month, token_key, base_id, sum(calls) FROM moved GROUP BY month, token_key, base_id
     ON CONFLICT (month, token_key, base_id) DO UPDATE SET calls = c.calls + excluded.calls, updated_at = now()`,
  );
}

/**
 * Forgets budget rows nobody used for `idleMs` and that serve no penalty: a flood of made-up base
 * ids or tokens leaves nothing behind.
 */
export function pruneBudgetSql(idleMs: number, now: number | null): Sql {
  return sql(
    `WITH t AS (SELECT coalesce($2::bigint, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS now)
     DELETE FROM airmirror.budget_keys k USING t
      WHERE k.updated_at < t.now - $1 AND k.blocked_until < t.now`,
    [idleMs, now],
  );
}

export interface LeaseRow {
  key: string;
  granted: number;
  ms: number;
  blocked: number;
}

/**
 * One holder's leases (src/db/migrations/021_budget_stock.ts): per key the slots wanted (0: give
 * it back), and the calls it granted from its stock since the last time, to count.
 */
export function leaseSql(a: {
  holder: string;
  keys: string[];
  want: number[];
  counts: Array<{ tokenKey: string; baseId: string; calls: number }>;
  rules: BudgetRules;
  leaseMs: number;
  now: number | null;
}): Sql {
  return {
    text: 'SELECT key, granted, ms, blocked FROM airmirror.budget_lease($1, $2, $3, $4, $5, $6, $7, $8, $9)',
    values: [
      a.holder,
      a.keys,
      a.want,
      [
        a.rules.perSecond,
        a.rules.perTokenPerSecond,
        a.rules.windowMs,
        0,
        0,
        a.rules.headroom,
        a.rules.highRecentMs,
        a.rules.normalGraceMs,
      ],
      a.leaseMs,
      a.counts.map((c) => c.tokenKey),
      a.counts.map((c) => c.baseId),
      a.counts.map((c) => c.calls),
      a.now,
    ],
    name: 'airmirror_budget_lease',
  };
}
