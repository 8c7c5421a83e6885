import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyBudget } from '../../proxy/app.ts';
import { createAuthCache } from '../../proxy/auth-cache.ts';
import { createRateBudget, type RateBudget } from '../../src/airtable/rate-budget.ts';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { createFakeClock, T0, type FakeClock } from '../support/fake-clock.ts';
import { waitUntil } from '../support/wait.ts';
import { startStack, type Stack } from './harness.ts';

/**
 * Issue 14, "budget theft": the budget is spent only on requests that can succeed. Airtable's
 * 401/403 are answered again by the proxy for a while; callers are fair-queued, so a flood from
 * one place cannot starve an app; made-up base ids leave nothing behind. The budget and the auth
 * cache run on one virtual clock; the emulator's call log shows what reached "Airtable".
 */
let s: Stack;
let clock: FakeClock;
let budget: RateBudget;
const grants: Array<{ token: string | undefined; at: number }> = [];
const proxyBudget: ProxyBudget = {
  acquire: (baseId, opts) =>
    budget.acquire(baseId, opts).then(() => void grants.push({ token: opts.token, at: clock.now() - T0 })),
  penalize: (baseId) => budget.penalize(baseId),
  stats: (baseId) => budget.stats(baseId),
  track: (baseId) => budget.track(baseId),
};

function useBudget(perSecond: number, maxTrackedBases?: number) {
  budget = createRateBudget({
    perSecond,
    windowMs: 1000,
    now: clock.now,
    sleep: clock.sleep,
    maxTrackedBases,
  });
  grants.length = 0;
}

beforeAll(async () => {
  const { db } = await createTestDatabase();
  clock = createFakeClock();
  useBudget(100);
  s = await startStack(db, {
    upstreamTimeoutMs: 30_000,
    proxyBudget,
    authCache: createAuthCache({ unauthorizedTtlMs: 30_000, forbiddenTtlMs: 10_000, now: clock.now }),
  });
});
afterAll(() => s.close());

function call(path: string, token = EMULATOR_TOKEN) {
  return fetch(`${s.proxyUrl}/api.airtable.com/v0${path}`, { headers: { authorization: `Bearer ${token}` } });
}

const junk = (i: number) => `patJunk${String(i).padStart(9, '0')}.` + 'f0'.repeat(32);
const OTHER_BASE = 'appNOSUCHBASE0001';

describe('what Airtable refused is refused again, without Airtable and without the budget', () => {
  it('a 401 for a token: answered as Airtable did, for 30 s', async () => {
    useBudget(100);
    s.emulator.control.clearCalls();
    const first = await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`, junk(1));
    expect(first.status).toBe(401);
    const body = await first.json();
    expect(body).toEqual({ error: { type: 'UNAUTHORIZED', message: 'Invalid authentication token' } });
    for (const path of [`/${DEMO_BASE_ID}/Customers?pageSize=1`, `/${DEMO_BASE_ID}/Orders`, '/meta/whoami']) {
      const again = await call(path, junk(1));
      expect(again.status).toBe(401);
      expect(again.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await again.json()).toEqual(body);
    }
    // One call reached Airtable; one budget slot was spent.
    expect(s.emulator.control.calls()).toHaveLength(1);
    expect(budget.stats(DEMO_BASE_ID).sent).toBe(1);
    // A request without any token is refused the same way once Airtable said so.
    const none = () => fetch(`${s.proxyUrl}/api.airtable.com/v0/${DEMO_BASE_ID}/Customers`);
    expect((await none()).status).toBe(401);
    expect((await none()).status).toBe(401);
    expect(s.emulator.control.calls()).toHaveLength(2);
    // After the 30 s, the token gets its chance with Airtable again.
    await clock.advance(30_001);
    expect((await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`, junk(1))).status).toBe(401);
    expect(s.emulator.control.calls()).toHaveLength(3);
    // The app's own token was never affected.
    expect((await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`)).status).toBe(200);
  });

  it('a 403 for a base: the same request refused for 10 s, other tables and bases not', async () => {
    useBudget(100);
    s.emulator.control.clearCalls();
    const first = await call(`/${OTHER_BASE}/Customers`);
    expect(first.status).toBe(403);
    const body = await first.json();
    expect((body as { error: { type: string } }).error.type).toBe('INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND');
    const again = await call(`/${OTHER_BASE}/Customers`);
    expect(again.status).toBe(403);
    expect(await again.json()).toEqual(body);
    expect(s.emulator.control.calls()).toHaveLength(1);
    // Narrow: another table of that base, and the app's real base, still reach Airtable.
    expect((await call(`/${OTHER_BASE}/Orders`)).status).toBe(403);
    expect((await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`)).status).toBe(200);
    expect(s.emulator.control.calls()).toHaveLength(3);
    await clock.advance(10_001);
    expect((await call(`/${OTHER_BASE}/Customers`)).status).toBe(403);
    expect(s.emulator.control.calls()).toHaveLength(4);
  });
});

describe('fairness', () => {
  it('a flood of made-up tokens from one address cannot hold an app’s request back', async () => {
    useBudget(1);
    // Airtable accepts the app's token: from now on the proxy knows it (its own client, its own
    // turn). Then the budget comes to rest.
    expect((await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`)).status).toBe(200);
    await clock.advance(5_000);
    const start = clock.now() - T0;
    grants.length = 0;
    const flood = [...Array(20)].map((_, i) => call(`/${DEMO_BASE_ID}/Customers?pageSize=1`, junk(100 + i)));
    await waitUntil(() => budget.stats(DEMO_BASE_ID).queued >= 19, { what: 'the flood to queue' });
    const app = call(`/${DEMO_BASE_ID}/Customers?pageSize=1`);
    await waitUntil(() => budget.stats(DEMO_BASE_ID).queued >= 20, { what: 'the app to queue' });
    // Slots come one a second. The flood shares one turn (one address); the app has its own, so
    // of the two slots after the flood's first, one is the app's.
    for (let i = 0; i < 3 && !grants.some((g) => g.token === EMULATOR_TOKEN); i++) {
      await clock.advance(1_000);
      await waitUntil(() => grants.length >= i + 2, { what: `slot ${i + 2}` });
    }
    const mine = grants.find((g) => g.token === EMULATOR_TOKEN);
    expect(mine).toBeDefined();
    expect(mine!.at - start).toBeLessThanOrEqual(2_000);
    expect((await app).status).toBe(200);
    // The flood is still queued behind: it is served at its own pace, one turn in two.
    expect(budget.stats(DEMO_BASE_ID).queued).toBeGreaterThanOrEqual(15);
    await clock.advance(30_000);
    for (const r of await Promise.all(flood)) expect([401, 429]).toContain(r.status);
  });

  it('one client queues at most its share for a base: beyond it, Airtable’s 429 at once', async () => {
    useBudget(1);
    await clock.advance(5_000);
    await budget.acquire(DEMO_BASE_ID); // the window is full; the clock stands still
    s.emulator.control.clearCalls();
    const answered: Response[] = [];
    const flood = [...Array(40)].map((_, i) =>
      call(`/${DEMO_BASE_ID}/Customers?pageSize=1`, junk(200 + i)).then((r) => {
        answered.push(r);
        return r;
      }),
    );
    // The ten beyond the share of 30 are answered at once (the clock stands still, so no slot
    // frees meanwhile): Airtable's 429, without Airtable.
    await waitUntil(() => answered.length >= 10, { what: 'the refusals' });
    expect(answered).toHaveLength(10);
    for (const r of answered) {
      expect(r.status).toBe(429);
      expect(await r.json()).toEqual({
        error: { type: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' },
      });
    }
    expect(budget.stats(DEMO_BASE_ID).queued).toBe(30);
    expect(s.emulator.control.calls()).toHaveLength(0);
    await clock.advance(60_000);
    await Promise.all(flood);
  });
});

describe('bounded', () => {
  it('a flood of made-up base ids leaves the budget’s state and its stats bounded', async () => {
    useBudget(100, 10);
    const ids = [...Array(400)].map((_, i) => `appFLOOD${String(i).padStart(9, '0')}`);
    for (let i = 0; i < ids.length; i += 50) {
      const rs = await Promise.all(ids.slice(i, i + 50).map((id) => call(`/${id}/Customers`)));
      for (const r of rs) expect(r.status).toBe(403);
    }
    expect((await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`)).status).toBe(200);
    // Only the base Airtable accepted is tracked (metrics walk these, nothing else).
    expect(Object.keys(budget.allStats())).toEqual([DEMO_BASE_ID]);
    // Idle untracked bases are dropped whenever twice the tracked share is reached.
    expect(budget.heldBases()).toBeLessThanOrEqual(2 * 10);
  });
});
