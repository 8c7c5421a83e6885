import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSharedBudget, type SharedBudget } from '../../src/airtable/shared-budget.ts';
import { callsThisMonth } from '../../src/bookkeeping/airtable-calls.ts';
import { createDatabase, type Database, type Queryable } from '../../src/db/database.ts';
import { sql, type Sql } from '../../src/db/sql.ts';
import { tokenKeyOf } from '../../src/airtable/rate-budget.ts';
import type { QueryResultRow } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { createFakeClock, T0 } from '../support/fake-clock.ts';
import { clearBudgetRows, settledClock, withinWindow } from '../support/budget-world.ts';

/**
 * The shared budget's stock (src/airtable/budget-stock.ts, migration 021) on real Postgres:
 * several budgets, each on its own pool, stand for processes. Time is the fake clock, passed to
 * Postgres as the statements' time (`clock: 'local'`) and moved in small steps; after each step
 * the test waits until no statement is in flight.
 */
const BASE = 'appSTOCKBUDGET001';
const BASE2 = 'appSTOCKBUDGET002';
const TOKEN = 'patStock00000001.' + 'cd'.repeat(32);
const SYNC_TOKEN = 'patStock00000002.' + 'ef'.repeat(32);

let t: TestDatabase;
const extra: Database[] = [];
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  for (const d of extra) await d.close();
});

interface Proc {
  budget: SharedBudget;
  /** Grants, with their base and token (or none), on the test's clock (ms from T0). */
  granted: Array<{ label: string; at: number; base: string; token: boolean }>;
  /** Claim round trips (budget_claim statements), and the slots they granted. */
  claims: { statements: number; granted: number };
  /** Lease statements (budget_lease): the stock's renewals, give-backs and counts. */
  leases: { statements: number };
  take(label: string, opts?: Parameters<SharedBudget['acquire']>[1], base?: string): Promise<void>;
  /** The most slots per window this process held at once, per key. */
  peakStock: Record<string, number>;
}

function world(opts: { perSecond?: number; perTokenPerSecond?: number } = {}) {
  const clock = createFakeClock();
  let inFlight = 0;
  const procs: Proc[] = [];
  const make = (stock: boolean): Proc => {
    const db = createDatabase(t.url, { max: 2 });
    extra.push(db);
    const claims = { statements: 0, granted: 0 };
    const leases = { statements: 0 };
    const counted: Queryable = {
      query: async <R extends QueryResultRow>(q: Sql) => {
        const claim = q.name === 'airmirror_budget_claim';
        if (claim) claims.statements++;
        if (q.name === 'airmirror_budget_lease') leases.statements++;
        inFlight++;
        try {
          const r = await db.query<R>(q);
          if (claim) claims.granted += r.rows.filter((row) => row.delay !== null).length;
          return r;
        } finally {
          inFlight--;
        }
      },
    };
    const budget = createSharedBudget({
      db: counted,
      clock: 'local',
      now: clock.now,
      sleep: clock.sleep,
      windowMs: 1000,
      perSecond: opts.perSecond,
      perTokenPerSecond: opts.perTokenPerSecond,
      stock: stock ? { leaseMs: 600, tickMs: 100 } : false,
    });
    const p: Proc = {
      budget,
      granted: [],
      claims,
      leases,
      peakStock: {},
      take: (label, o = {}, base = BASE) =>
        budget
          .acquire(base, o)
          .then(
            () => void p.granted.push({ label, at: clock.now() - T0, base, token: o.token !== undefined }),
          ),
    };
    procs.push(p);
    return p;
  };
  const { quiet, run } = settledClock(clock, () => inFlight > 0, {
    pauseMs: 3,
    what: 'statements to settle',
    // The most stock each process held at a quiet moment (what the tests bound).
    onQuiet: () => {
      for (const p of procs) {
        for (const [k, n] of Object.entries(p.budget.stock()))
          p.peakStock[k] = Math.max(p.peakStock[k] ?? 0, n);
      }
    },
  });
  return { clock, make, quiet, run };
}

/** Slots of `key` leased out at `at` (ms from T0), as every claim counts them. */
async function leasedAt(key: string, at: number): Promise<number> {
  const r = await t.db.query<{ n: number }>(
    sql(
      `SELECT coalesce((SELECT airmirror.budget_leased(k, $2, 1000) FROM airmirror.budget_keys k WHERE k.key = $1), 0) AS n`,
      [key, T0 + at],
    ),
  );
  return r.rows[0].n;
}

describe('stock: slots handed out in process', () => {
  it('after the first request, a proxy burst is served from stock with no claim round trip', async () => {
    await clearBudgetRows(t.db);
    const { make, quiet, run } = world({ perSecond: 100 });
    const p = make(true);
    await p.take('first', { priority: 'high', token: TOKEN });
    await quiet();
    expect(p.claims.statements).toBe(1);
    // The stock is asked for off the request's path, at the next tick.
    await run(120, 20);
    expect(p.budget.stock()[`b:${BASE}`]).toBeGreaterThan(0);
    expect(p.budget.stock()[`t:${tokenKeyOf(TOKEN)}`]).toBeGreaterThan(0);
    const before = p.claims.statements;
    const burst = [...Array(5)].map((_, i) => p.take(`h${i}`, { priority: 'high', token: TOKEN }));
    await Promise.all(burst);
    expect(p.claims.statements).toBe(before);
    // All five start at once: no round trip, no wait.
    expect(new Set(p.granted.slice(1).map((g) => g.at)).size).toBe(1);
    // Background work never takes from the stock: it claims as before.
    const page = p.take('page');
    await quiet();
    await page;
    expect(p.claims.statements).toBe(before + 1);
    // The calls from stock are counted like the others (with the next lease statement).
    p.budget.track(BASE);
    await run(300, 20);
    await p.budget.stop();
    const counts = await callsThisMonth(t.db, { at: new Date(T0) });
    expect(counts.reduce((n, c) => n + c.calls, 0)).toBe(7);
  });

  it('renews only while there is stock or demand: asleep when idle, woken a tick after demand, stopped with no tick left', async () => {
    await clearBudgetRows(t.db);
    const { clock, make, quiet, run } = world({ perSecond: 5 });
    const p = make(true);
    await quiet();
    expect(clock.pendingTimers()).toBe(0);
    await p.take('h0', { priority: 'high' });
    await quiet();
    // The demand is asked for a tick later, not on the request's path.
    expect(p.leases.statements).toBe(0);
    expect(clock.sleepsUntil(clock.now() + 100)).toBe(true);
    await run(100, 20);
    expect(p.leases.statements).toBe(1);
    expect(p.budget.stock()[`b:${BASE}`]).toBeGreaterThan(0);
    // Idle: the lease is given back, and then the loop waits for demand with no tick scheduled.
    await run(1500 + 600 + 200, 20);
    expect(p.budget.stock()).toEqual({});
    const settled = p.leases.statements;
    expect(clock.pendingTimers()).toBe(0);
    await run(1000, 100);
    expect(p.leases.statements).toBe(settled);
    // Woken again, then stopped while it ticks: stop() ends the tick's wait.
    await p.take('h1', { priority: 'high' });
    await run(100, 20);
    expect(p.budget.stock()[`b:${BASE}`]).toBeGreaterThan(0);
    expect(clock.pendingTimers()).toBeGreaterThan(0);
    await p.budget.stop();
    expect(clock.pendingTimers()).toBe(0);
    // Given back: its slots count a window longer, then they are everyone's.
    expect(await leasedAt(`b:${BASE}`, clock.now() - T0)).toBeGreaterThan(0);
    expect(await leasedAt(`b:${BASE}`, clock.now() - T0 + 1000)).toBe(0);
  });

  it('three processes with stock and one without never go over 5 per base or the token’s limit, together', async () => {
    await clearBudgetRows(t.db);
    const { make, run } = world({ perSecond: 5, perTokenPerSecond: 12 });
    const stocked = [make(true), make(true), make(true)];
    const plain = make(false);
    const all: Array<Promise<void>> = [];
    // First a light load, so every process gets stock; then proxy requests keep coming to both
    // bases with one token, from every process, far more than the limits, and background pages
    // from the fourth: the stock's slots and the points claimed meet in the same windows.
    // Two processes alone on a base each, four requests a second: they get stock.
    for (let s = 0; s < 8; s++) {
      stocked.slice(0, 2).forEach((p, k) => {
        all.push(p.take(`${k}:light${s}`, { priority: 'high', token: TOKEN }, k === 0 ? BASE : BASE2));
      });
      await run(250, 10);
    }
    for (let s = 0; s < 6; s++) {
      stocked.forEach((p, k) => {
        for (let i = 0; i < 4; i++) {
          const base = i % 2 === 0 ? BASE : BASE2;
          all.push(p.take(`${k}:${s}:${i}`, { priority: 'high', token: TOKEN, client: `c${i}` }, base));
        }
      });
      // The syncer has a token of its own (the apps' token is theirs).
      all.push(plain.take(`bg${s}`, { token: SYNC_TOKEN }));
      await run(1000, 20);
    }
    const procs = [...stocked, plain];
    const grants = procs.flatMap((p) => p.granted);
    expect(grants.length).toBeGreaterThan(40);
    for (const base of [BASE, BASE2]) {
      const times = grants.filter((g) => g.base === base).map((g) => g.at);
      expect(withinWindow(times, 5), JSON.stringify(times.sort((x, y) => x - y))).toBe(true);
    }
    expect(
      withinWindow(
        grants.filter((g) => g.token).map((g) => g.at),
        12,
      ),
    ).toBe(true);
    // Not vacuous: the processes did hold stock, and served from it.
    expect(stocked.some((p) => (p.peakStock[`b:${BASE}`] ?? 0) > 0)).toBe(true);
    const fromStock = stocked.reduce((n, p) => n + p.granted.length - p.claims.granted, 0);
    expect(fromStock).toBeGreaterThan(0);
    // Background work got its share too.
    expect(plain.granted.length).toBeGreaterThan(0);
    void all;
    for (const p of procs) await p.budget.stop();
  });

  it('stock unused is given back: a window after its last lease, the base’s slots are everyone’s', async () => {
    await clearBudgetRows(t.db);
    const { clock, make, run } = world({ perSecond: 5 });
    const a = make(true);
    await a.take('h0', { priority: 'high' });
    await run(150, 10);
    await a.take('h1', { priority: 'high' });
    expect(a.budget.stock()[`b:${BASE}`]).toBeGreaterThan(0);
    const lastUse = clock.now() - T0;
    // Idle from now on: a renewal after 1.5 s idle gives it back; its share counts a window longer.
    await run(1500 + 600 + 1000 + 20, 20);
    expect(a.budget.stock()).toEqual({});
    expect(await leasedAt(`b:${BASE}`, clock.now() - T0)).toBe(0);
    expect(clock.now() - T0 - lastUse).toBeLessThanOrEqual(1500 + 600 + 1000 + 40);
    // Another process's background work now has the base's slots (less the proxy's headroom while
    // the proxy was active in the last 3 s).
    const b = make(false);
    const pages = [...Array(4)].map((_, i) => b.take(`n${i}`));
    await run(400, 10);
    await Promise.all(pages);
    expect(b.granted).toHaveLength(4);
    await a.budget.stop();
  });

  it('a 429 seen by another process stops the holder’s stock within one renewal, for the 30 s', async () => {
    await clearBudgetRows(t.db);
    const { clock, make, quiet, run } = world({ perSecond: 5 });
    const holder = make(true);
    const other = make(false);
    await holder.take('h0', { priority: 'high' });
    await run(150, 10);
    expect(holder.budget.stock()[`b:${BASE}`]).toBeGreaterThan(0);
    other.budget.penalize(BASE);
    await quiet();
    const penalizedAt = clock.now() - T0;
    // The holder keeps asking, as an app would.
    const asks: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) {
      asks.push(holder.take(`late${i}`, { priority: 'high' }).catch(() => undefined));
      await run(100, 20);
    }
    await run(27_000, 500);
    const during = holder.granted.filter(
      (g) => g.at > penalizedAt + 600 + 100 && g.at < penalizedAt + 30_000,
    );
    expect(during).toEqual([]);
    expect(holder.budget.stats(BASE).blockedUntil).not.toBeNull();
    // After the penalty, it is served again.
    await run(1500, 20);
    expect(holder.granted.filter((g) => g.at >= penalizedAt + 30_000).length).toBeGreaterThan(0);
    void asks;
    await holder.budget.stop();
  });

  it('background work waiting past its grace shrinks a proxy’s stock to one slot, and is served', async () => {
    await clearBudgetRows(t.db);
    const { make, quiet, run } = world({ perSecond: 5 });
    const proxy = make(true);
    const syncer = make(false);
    // A busy app: then four requests every 250 ms, more than the base's 5/s.
    const flood = async (ms: number, n = 4) => {
      for (let done = 0; done < ms; done += 250) {
        for (let i = 0; i < n; i++)
          void proxy.take(`h${done}.${i}`, { priority: 'high', client: `c${i}` }).catch(() => undefined);
        await run(250, 10);
      }
    };
    // First one request every 250 ms: the stock grows to what the base has left.
    await flood(1500, 1);
    await flood(500);
    expect(proxy.budget.stock()[`b:${BASE}`]).toBeGreaterThan(1);
    const pages = [...Array(3)].map((_, i) => syncer.take(`page${i}`));
    await flood(3000);
    await quiet();
    expect(proxy.budget.stock()[`b:${BASE}`] ?? 0).toBeLessThanOrEqual(1);
    // The proxy's backlog still goes first; background work keeps its slot every couple of seconds.
    await run(6000, 20);
    await Promise.all(pages);
    expect(syncer.granted).toHaveLength(3);
    const all = [...proxy.granted, ...syncer.granted].map((g) => g.at);
    expect(withinWindow(all, 5)).toBe(true);
    await proxy.budget.stop();
  });
});
