import { beforeAll, describe, expect, it } from 'vitest';
import type { BudgetRules, ClaimAnswer, ClaimItem } from '../../src/airtable/budget-types.ts';
import { createBudgetWindows } from '../../src/airtable/budget-windows.ts';
import { claimSql, leaseSql, penalizeSql } from '../../src/airtable/store.ts';
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
  baseGapMs: 50,
  tokenGapMs: 20,
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
    // Processes report lag margins now and then: the base keeps the largest for a minute.
    const margin = random() < 0.2 ? Math.floor(random() * 120) : 0;
    const mine = local.claim(items, margin);
    const theirs = (
      await db.query<{ delay: number | null; retry: number | null; reason: string | null }>(
        claimSql(items, rules, t, margin),
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

  it('with the in-process horizons (only starts that are due) and no spacing', async () => {
    await compare(4, { ...RULES, highHorizonMs: 0, normalHorizonMs: 0, baseGapMs: 0, tokenGapMs: 0 }, 150);
  });
});

describe('the budget rules: priorities', () => {
  const item = (high: boolean): ClaimItem => ({
    baseId: 'appPRIORITIES0001',
    high,
    countToken: '*',
    countBase: '*',
  });

  it.each([1, 10, 50, 100])(
    'background work gets a slot within its grace, a booked-ahead window and a window, however the proxy floods (timers late by up to %i ms)',
    (late) => {
      let t = T0;
      const w = createBudgetWindows(RULES, () => t);
      let normalAt: number | undefined;
      let high = 0;
      // Each asks again when it was told to, as the fronts do, its timer firing on a grid of
      // `late` ms (a busy event loop); at the same moment the proxy asks first, the worst order
      // for background work.
      const when = (at: number) => T0 + Math.ceil((at - T0) / late) * late;
      let nextHigh = T0;
      let nextNormal = T0;
      while (normalAt === undefined && t < T0 + 10_000) {
        t = Math.min(nextHigh, nextNormal);
        if (nextHigh === t) {
          const answers = w.claim(Array.from({ length: 10 }, () => item(true)));
          high += answers.filter((a) => a.delay !== null).length;
          const retry = Math.min(...answers.map((a) => (a.delay === null ? a.retry! : Infinity)));
          nextHigh = retry === Infinity ? t : when(t + retry);
        }
        if (nextNormal === t) {
          const [a] = w.claim([item(false)]);
          if (a.delay !== null) normalAt = t + a.delay - T0;
          else nextNormal = when(t + a.retry!);
        }
      }
      expect(normalAt).toBeDefined();
      expect(normalAt!).toBeLessThanOrEqual(
        RULES.normalGraceMs + RULES.highHorizonMs + RULES.windowMs + late,
      );
      // The proxy was not starved either: it took the base's whole budget until then.
      expect(high).toBeGreaterThanOrEqual(Math.floor((normalAt! / RULES.windowMs) * (RULES.perSecond - 1)));
    },
  );

  it('the proxy goes first: a request of it finds a slot free while background work fills the base', () => {
    let t = T0;
    const w = createBudgetWindows(RULES, () => t);
    expect(w.claim([item(true)])[0].delay).toBe(0);
    let normal = 0;
    for (; t < T0 + 2_000; t += 10) normal += w.claim([item(false)]).filter((a) => a.delay !== null).length;
    // Background work took 4 of 5 a window, so the proxy's next request starts at once — or
    // at most the spacing after the latest start.
    expect(normal).toBeGreaterThanOrEqual(7);
    const [next] = w.claim([item(true)]);
    expect(next.delay).not.toBeNull();
    expect(next.delay!).toBeLessThanOrEqual(RULES.baseGapMs);
  });
});

describe('the budget rules: lag margins per caller (Postgres)', () => {
  const rules = { ...RULES, baseGapMs: 0, tokenGapMs: 0 };
  let n = 0;
  /** A base of its own for each case (the rows persist). */
  const freshBase = () => `appMARGINS${String(++n).padStart(7, '0')}`;
  const claim = async (baseId: string, t: number, margin: number, holder: string | null) =>
    (
      await db.query<{ delay: number | null; retry: number | null }>(
        claimSql([{ baseId, high: false, countToken: '*', countBase: '*' }], rules, t, margin, holder),
      )
    ).rows[0];
  /** Caller A, its loop running 100 ms late, takes the base's five slots at `t`. */
  const fillByA = async (baseId: string, t: number) => {
    for (let i = 0; i < 5; i++) expect((await claim(baseId, t, 100, 'A')).delay).toBe(0);
  };
  const t0 = T0 + 7_000_000_000;

  it('leaves a caller alone on the base its own margin out, and counts it for the others', async () => {
    const own = freshBase();
    await fillByA(own, t0);
    // A, alone, paces its own departures as they really leave: a window later it may go again.
    expect((await claim(own, t0 + 1000, 100, 'A')).delay).toBe(0);

    const other = freshBase();
    await fillByA(other, t0);
    // B's request must not share Airtable's second with A's late one: 100 ms more.
    expect(await claim(other, t0 + 1000, 0, 'B')).toMatchObject({ delay: null, retry: 90 });
    expect((await claim(other, t0 + 1100, 0, 'B')).delay).toBe(0);
  });

  it('counts a caller’s own margin again once the base is shared (another caller, another’s lease)', async () => {
    const shared = freshBase();
    await fillByA(shared, t0);
    expect((await claim(shared, t0 + 10, 0, 'B')).delay).toBeNull(); // B is on the base now
    // A's own 100 ms count again: it paces only its own departures, not B's.
    expect((await claim(shared, t0 + 1000, 100, 'A')).delay).toBeNull();
    expect((await claim(shared, t0 + 1100, 100, 'A')).delay).toBe(0);

    // Another process holds a lease of a base (its stock for the proxy): A's share is 4, and its
    // own margin counts.
    const leased = freshBase();
    await db.query(
      leaseSql({
        holder: 'Q',
        keys: [`b:${leased}`],
        want: [1],
        counts: [],
        rules,
        leaseMs: 5000,
        now: t0 - 100,
      }),
    );
    for (let i = 0; i < 4; i++) expect((await claim(leased, t0, 100, 'A')).delay).toBe(0);
    expect((await claim(leased, t0 + 1000, 100, 'A')).delay).toBeNull();
    expect((await claim(leased, t0 + 1100, 100, 'A')).delay).toBe(0);
  });

  it('counts everyone’s margin, its own included, for a caller without a name (as before)', async () => {
    const b = freshBase();
    await fillByA(b, t0);
    expect((await claim(b, t0 + 1000, 0, null)).delay).toBeNull();
    expect((await claim(b, t0 + 1100, 0, null)).delay).toBe(0);
    const self = freshBase();
    for (let i = 0; i < 5; i++) expect((await claim(self, t0, 100, null)).delay).toBe(0);
    expect((await claim(self, t0 + 1000, 100, null)).delay).toBeNull();
  });

  it('keeps each caller’s largest margin for a minute, then forgets it', async () => {
    const b = freshBase();
    await fillByA(b, t0);
    // A reports no lag now: its 100 ms of a moment ago still count for B.
    expect((await claim(b, t0 + 500, 0, 'A')).delay).toBeNull();
    expect((await claim(b, t0 + 1000, 0, 'B')).delay).toBeNull();
    // A minute later A's 100 ms have lapsed: its new claims report none, and B's window is the
    // plain one.
    const c = freshBase();
    for (let i = 0; i < 5; i++) expect((await claim(c, t0, 100, 'A')).delay).toBe(0);
    for (let i = 0; i < 5; i++) expect((await claim(c, t0 + 61_000, 0, 'A')).delay).toBe(0);
    expect((await claim(c, t0 + 62_000, 0, 'B')).delay).toBe(0);
  });
});
