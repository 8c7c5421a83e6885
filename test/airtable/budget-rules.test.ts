import { beforeAll, describe, expect, it } from 'vitest';
import type { BudgetRules, ClaimAnswer, ClaimItem } from '../../src/airtable/budget-types.ts';
import { createBudgetWindows } from '../../src/airtable/budget-windows.ts';
import { claimSql, penalizeSql } from '../../src/airtable/store.ts';
import type { Database } from '../../src/db/database.ts';
import { createTestDatabase } from '../support/db.ts';
import { T0 } from '../support/fake-clock.ts';

/**
 * The budget's rules exist twice: as `airmirror.budget_claim` in Postgres (the shared budget) and
 * in process (budget-windows.ts: a budget without Postgres, and the fallback while it is away).
 * Both are given the same long random sequence of claims and penalties at the same times and
 * must give the same answer to every item.
 */
let db: Database;
beforeAll(async () => {
  ({ db } = await createTestDatabase());
});

const RULES: BudgetRules = {
  perSecond: 5,
  perTokenPerSecond: 8,
  windowMs: 1000,
  highHorizonMs: 1000,
  normalHorizonMs: 10,
  headroom: 1,
  highRecentMs: 3000,
  normalGraceMs: 1000,
  penaltyMs: 5000,
};

/** A small deterministic PRNG (mulberry32), so a failure replays. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function compare(seed: number, rules: BudgetRules, steps: number) {
  const random = rng(seed);
  let t = T0 + seed * 1_000_000;
  const local = createBudgetWindows(rules, () => t);
  const bases = ['appAAAAAAAAAAAAAA', 'appBBBBBBBBBBBBBB', 'appCCCCCCCCCCCCCC'];
  const tokens = ['tokenkey00000001', 'tokenkey00000002', undefined];
  // Each seed gets bases of its own in the shared table (the rows persist across seeds).
  const base = (i: number) => `${bases[i].slice(0, 12)}${String(seed).padStart(5, '0')}`;
  let granted = 0;
  let refused = 0;
  for (let step = 0; step < steps; step++) {
    t += Math.floor(random() * 350);
    if (random() < 0.03) {
      const b = base(Math.floor(random() * 3));
      local.penalize(b, rules.penaltyMs);
      await db.query(penalizeSql(b, rules.penaltyMs, t));
      continue;
    }
    const items: ClaimItem[] = Array.from({ length: 1 + Math.floor(random() * 6) }, () => {
      const tokenKey = tokens[Math.floor(random() * 3)];
      const tk = tokenKey === undefined ? undefined : `${tokenKey}${seed}`;
      return {
        baseId: base(Math.floor(random() * 3)),
        tokenKey: tk,
        high: random() < 0.4,
        countToken: tk ?? '*',
        countBase: '*',
      };
    });
    const mine = local.claim(items);
    const theirs = (
      await db.query<{ delay: number | null; retry: number | null; reason: string | null }>(
        claimSql(items, rules, t),
      )
    ).rows.map((r): ClaimAnswer =>
      r.delay !== null
        ? { delay: r.delay }
        : { delay: null, retry: r.retry!, reason: r.reason as ClaimAnswer['reason'] },
    );
    expect({ step, at: t - T0, answers: theirs }).toEqual({ step, at: t - T0, answers: mine });
    for (const a of mine)
      if (a.delay === null) refused++;
      else granted++;
  }
  return { granted, refused };
}

describe('the budget rules: Postgres and in process agree', () => {
  it('on random claims of three bases, two tokens and no token, both priorities, with penalties', async () => {
    let granted = 0;
    let refused = 0;
    for (const seed of [1, 2, 3]) {
      const r = await compare(seed, RULES, 150);
      granted += r.granted;
      refused += r.refused;
    }
    // The sequences exercise both outcomes (not a run where everything passed).
    expect(granted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it('with the in-process horizons (only starts that are due)', async () => {
    await compare(4, { ...RULES, highHorizonMs: 0, normalHorizonMs: 0 }, 150);
  });
});
