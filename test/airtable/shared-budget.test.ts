import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BudgetRefusedError, tokenKeyOf } from '../../src/airtable/rate-budget.ts';
import { createSharedBudget, type SharedBudget } from '../../src/airtable/shared-budget.ts';
import { callsThisMonth } from '../../src/bookkeeping/airtable-calls.ts';
import { createDatabase, type Database, type Queryable } from '../../src/db/database.ts';
import { sql, type Sql } from '../../src/db/sql.ts';
import type { QueryResultRow } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { createFakeClock, T0 } from '../support/fake-clock.ts';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.ts';
import { clearBudgetRows, settledClock, withinWindow } from '../support/budget-world.ts';
import { waitUntil } from '../support/wait.ts';
import { createMetrics } from '../../src/metrics.ts';
import { budgetWaitsCollector } from '../../src/node-metrics.ts';

/**
 * The shared budget (docs/DESIGN.md invariants 6 and 9) on real Postgres, with two budgets on two
 * Database handles standing for two processes. Time is the fake clock (the budget passes it to
 * Postgres as the claims' time, `clock: 'local'`), moved in small steps; after each step the test
 * waits until no claim is in flight, so what a step granted is settled before the next.
 */
const BASE = 'appSHAREDBUDGET01';
const TOKEN = 'patShared0000001.' + 'ab'.repeat(32);

let t: TestDatabase;
const extra: Database[] = [];
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  for (const d of extra) await d.close();
});

interface Process {
  budget: SharedBudget;
  granted: Array<{ label: string; at: number }>;
  take(label: string, opts?: Parameters<SharedBudget['acquire']>[1], base?: string): Promise<void>;
}

/** A "process": its own pool and budget on the test database, claims counted in flight. */
function processes(n: number, opts: { windowMs?: number; perSecond?: number } = {}) {
  const clock = createFakeClock();
  let inFlight = 0;
  const make = (): Process => {
    const db = createDatabase(t.url, { max: 2 });
    extra.push(db);
    const counted: Queryable = {
      query: <R extends QueryResultRow>(q: Sql) => {
        inFlight++;
        return db.query<R>(q).finally(() => inFlight--);
      },
    };
    const budget = createSharedBudget({
      db: counted,
      clock: 'local',
      now: clock.now,
      sleep: clock.sleep,
      windowMs: opts.windowMs ?? 1000,
      perSecond: opts.perSecond,
    });
    const granted: Process['granted'] = [];
    return {
      budget,
      granted,
      take: (label, o = {}, base = BASE) =>
        budget.acquire(base, o).then(() => void granted.push({ label, at: clock.now() - T0 })),
    };
  };
  const ps = Array.from({ length: n }, make);
  /** Lets claims and their answers settle; moves the clock in steps, settling after each. */
  const { quiet, run } = settledClock(clock, () => inFlight > 0, { pauseMs: 5, what: 'claims to settle' });
  return { clock, ps, quiet, run };
}

describe('one budget for two processes', () => {
  it('a base’s window is shared: what one process took, the other waits for', async () => {
    await clearBudgetRows(t.db);
    const { ps, quiet, run } = processes(2);
    const [a, b] = ps;
    const five = [...Array(5)].map((_, i) => a.take(`a${i}`));
    await run(300, 10);
    await Promise.all(five);
    // Starts of a base are spaced (a quarter of 1000/5 ms), so a burst leaves one after another.
    expect(a.granted.map((g) => g.at)).toEqual([0, 50, 100, 150, 200]);
    const late = b.take('b0');
    await quiet();
    expect(b.granted).toEqual([]);
    expect(b.budget.stats(BASE)).toMatchObject({ sent: 0, waits: 1, queued: 1 });
    await run(800, 10);
    await late;
    expect(b.granted).toEqual([{ label: 'b0', at: 1000 }]);
  });

  it('many requests from both stay within 5 per window, and none of the budget is wasted', async () => {
    await clearBudgetRows(t.db);
    const { ps, run } = processes(2);
    const all = ps.flatMap((p, k) => [...Array(12)].map((_, i) => p.take(`${k}:${i}`)));
    await run(5000, 50);
    await Promise.all(all);
    const times = ps.flatMap((p) => p.granted.map((g) => g.at));
    expect(times).toHaveLength(24);
    expect(withinWindow(times, 5)).toBe(true);
    // 24 at 5 a window: the last ones start in the fifth window (T0+4000, four spacings of 50 ms
    // and a driving step later at most), not later.
    expect(Math.max(...times)).toBeLessThanOrEqual(4000 + 4 * 50 + 50);
    // Both processes got a share.
    expect(ps.every((p) => p.granted.length > 0)).toBe(true);
  });

  it('a 429 seen by one process makes the other wait the 30 s (and answer at once where asked to)', async () => {
    await clearBudgetRows(t.db);
    const { clock, ps, quiet, run } = processes(2);
    const [a, b] = ps;
    await a.take('a0');
    a.budget.penalize(BASE);
    await waitUntil(
      async () =>
        (
          await t.db.query(
            sql(`SELECT 1 FROM airmirror.budget_keys WHERE key = $1 AND blocked_until > $2`, [
              `b:${BASE}`,
              clock.now(),
            ]),
          )
        ).rowCount === 1,
      { what: 'the penalty in Postgres' },
    );
    const waiting = b.take('b0');
    // The proxy's way: refused at once, so the app gets Airtable's 429 without waiting 30 s.
    await expect(
      b.budget.acquire(BASE, { priority: 'high', failWhenPenalized: true }),
    ).rejects.toBeInstanceOf(BudgetRefusedError);
    await quiet();
    expect(b.budget.stats(BASE).blockedUntil).toBe(T0 + 30_000);
    await run(29_900, 500);
    expect(b.granted).toEqual([]);
    await run(200);
    await waiting;
    expect(b.granted[0].at).toBeGreaterThanOrEqual(30_000);
    expect(b.granted[0].at).toBeLessThanOrEqual(30_020);
  });
});

describe('a process paces its own departures (departure-pacer.ts)', () => {
  it('holds the request five after a slowly answered one, and /metrics counts it', async () => {
    await clearBudgetRows(t.db);
    const { ps, run } = processes(1);
    const [a] = ps;
    const metrics = createMetrics();
    const collect = budgetWaitsCollector(a.budget, metrics);
    const answers: Array<() => void> = [];
    const take = (label: string) =>
      a.budget
        .acquire(BASE, { reportsAnswer: true })
        .then((d) => void (a.granted.push({ label, at: 0 }), answers.push(() => d?.answered())));
    const five = [...Array(5)].map((_, i) => take(`r${i}`));
    // Five starts, spaced 50 ms by the shared rules; the first one's answer comes at 300 ms (the
    // process knows no round trips yet: all 300 ms may have been queueing before Airtable counted it).
    await run(300, 10);
    await Promise.all(five);
    for (const answer of answers) answer();
    const sixth = take('sixth');
    // Postgres grants the sixth a window after the first (1,000 ms); the process holds it 300 more.
    await run(900, 20);
    expect(a.granted.map((g) => g.label)).not.toContain('sixth');
    expect(a.budget.paced()).toBe(1);
    await run(150, 10);
    await sixth;
    collect();
    expect(await metrics.registry.getSingleMetricAsString('airmirror_rate_budget_paced_total')).toMatch(
      /airmirror_rate_budget_paced_total 1$/m,
    );
  });
});

describe('priorities across processes', () => {
  it('background work leaves the proxy a slot while the proxy is active elsewhere', async () => {
    await clearBudgetRows(t.db);
    const { ps, quiet, run } = processes(2);
    const [syncer, proxy] = ps;
    await proxy.take('h0', { priority: 'high' });
    const pages = [...Array(5)].map((_, i) => syncer.take(`n${i}`));
    await run(400, 10);
    // 1 (the proxy's) + 3: one slot of the window stays free…
    expect(syncer.granted.map((g) => g.at)).toEqual([50, 100, 150]);
    // …so the proxy's next request goes at once.
    const h1 = proxy.take('h1', { priority: 'high' });
    await quiet();
    await h1;
    expect(proxy.granted.map((g) => g.at)).toEqual([0, 400]);
    void pages;
  });

  it('a flood of proxy requests cannot starve background work', async () => {
    await clearBudgetRows(t.db);
    const { ps, quiet, run } = processes(2);
    const [syncer, proxy] = ps;
    // 60 proxy requests from 6 clients, far more than the base can take for 12 s.
    const flood = [...Array(60)].map((_, i) =>
      proxy.take(`h${i}`, { priority: 'high', client: `c${i % 6}` }).catch(() => undefined),
    );
    await quiet();
    const page = syncer.take('page');
    await run(4000, 50);
    await page;
    // The syncer waited at most its grace (1 s) plus a window and the slots booked ahead.
    expect(syncer.granted[0].at).toBeLessThanOrEqual(3000);
    const times = [...proxy.granted.map((g) => g.at), syncer.granted[0].at];
    expect(withinWindow(times, 5)).toBe(true);
    void flood;
  });
});

describe('counting calls (issue 17 builds on it)', () => {
  it('every granted call is counted per token key, base and month, and survives the rollup', async () => {
    await clearBudgetRows(t.db);
    const { ps, run } = processes(2, { perSecond: 100 });
    const [a, b] = ps;
    a.budget.track(BASE);
    b.budget.track(BASE);
    const all = [
      ...[...Array(7)].map((_, i) => a.take(`a${i}`, { token: TOKEN })),
      ...[...Array(3)].map((_, i) => b.take(`b${i}`, { token: TOKEN })),
      b.take('untracked', { token: TOKEN, priority: 'high' }, 'appNOTTRACKED0001'),
      b.take('no token'),
    ];
    await run(200, 5);
    await Promise.all(all);
    const at = new Date(T0);
    const key = tokenKeyOf(TOKEN);
    const expected = [
      { tokenKey: '*', baseId: BASE, calls: 1 },
      { tokenKey: key, baseId: '*', calls: 1 },
      { tokenKey: key, baseId: BASE, calls: 10 },
    ].sort((x, y) => (x.tokenKey + x.baseId).localeCompare(y.tokenKey + y.baseId));
    expect(await callsThisMonth(t.db, { at })).toEqual(expected);
    // The rollup moves the counts into the durable table; the month's figures stay the same.
    await a.budget.maintain();
    const pending = await t.db.query(sql('SELECT count(*)::int AS n FROM airmirror.airtable_calls_pending'));
    expect(pending.rows[0].n).toBe(0);
    expect(await callsThisMonth(t.db, { at })).toEqual(expected);
    expect(await callsThisMonth(t.db, { at, tokenKey: key })).toHaveLength(2);
    // The token itself is stored nowhere.
    const dump = await t.db.query(
      sql(
        `SELECT (SELECT json_agg(k) FROM airmirror.budget_keys k)::text || (SELECT json_agg(c) FROM airmirror.airtable_calls c)::text AS all`,
      ),
    );
    expect(dump.rows[0].all).not.toContain(TOKEN);
    expect(dump.rows[0].all).toContain(key);
  });
});

describe('bounded', () => {
  it('a flood of made-up base ids leaves no state in the process, and none in Postgres after a minute', async () => {
    await clearBudgetRows(t.db);
    const { ps, quiet, run } = processes(1, { perSecond: 100 });
    const [p] = ps;
    p.budget.track(BASE);
    await p.take('real');
    for (let i = 0; i < 3000; i += 100) {
      await Promise.all(
        [...Array(100)].map((_, k) =>
          p.take(`x${i + k}`, { priority: 'high' }, `appJUNK${String(i + k).padStart(10, '0')}`),
        ),
      );
    }
    await quiet();
    // At most the tracked bases and as many again held; the stats name the tracked base only.
    expect(p.budget.heldBases()).toBeLessThanOrEqual(2 * 1000);
    expect(Object.keys(p.budget.allStats())).toEqual([BASE]);
    const rows = async () =>
      (await t.db.query<{ n: number }>(sql('SELECT count(*)::int AS n FROM airmirror.budget_keys'))).rows[0]
        .n;
    expect(await rows()).toBeGreaterThanOrEqual(3000);
    await run(61_000, 5_000);
    await p.budget.maintain();
    expect(await rows()).toBe(0);
  });
});

describe('Postgres away', () => {
  let relay: TcpRelay;
  afterAll(() => relay?.close());

  it('the process goes on at its fallback share, counts what it granted, and rejoins when Postgres is back', async () => {
    await clearBudgetRows(t.db);
    relay = await startTcpRelay({ host: '127.0.0.1', port: Number(new URL(t.url).port) });
    const clock = createFakeClock();
    const db = createDatabase(relay.urlFor(t.url), {
      max: 2,
      connectionTimeoutMs: 500,
      onError: () => undefined,
    });
    extra.push(db);
    const budget = createSharedBudget({
      db,
      clock: 'local',
      now: clock.now,
      sleep: clock.sleep,
      windowMs: 1000,
      retryMs: 1000,
    });
    budget.track(BASE);
    await budget.acquire(BASE, { token: TOKEN });
    expect(budget.degraded()).toBe(false);

    await relay.cut();
    // Five at once: the shared budget would grant them all; the fallback grants its share (1).
    const granted: number[] = [];
    const five = [...Array(5)].map(() =>
      budget.acquire(BASE, { token: TOKEN }).then(() => granted.push(clock.now() - T0)),
    );
    await waitUntil(() => budget.degraded(), { what: 'the budget to notice' });
    // The fallback window already holds the start Postgres granted at T0: one a window from then.
    for (let i = 0; i < 5; i++) {
      clock.jump(1000);
      await waitUntil(() => granted.length >= 1 + i, { what: `fallback grant ${i + 1}` });
    }
    await Promise.all(five);
    expect(withinWindow(granted, 1)).toBe(true);

    await relay.restore();
    clock.jump(1000);
    await budget.maintain();
    expect(budget.degraded()).toBe(false);
    // What the fallback granted while Postgres was away is counted too.
    const counts = await callsThisMonth(t.db, { at: new Date(T0) });
    expect(counts).toEqual([{ tokenKey: tokenKeyOf(TOKEN), baseId: BASE, calls: 6 }]);
  });
});
