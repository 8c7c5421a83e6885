import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyBudget } from '../../proxy/app.ts';
import { createRateBudget, type RateBudget, type RateBudgetOptions } from '../../src/airtable/rate-budget.ts';
import type { Database } from '../../src/db/database.ts';
import { quoteIdent, quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { createFakeClock, type FakeClock } from '../support/fake-clock.ts';
import { startStack, type Stack } from './harness.ts';

/**
 * The proxy and the shared request budget (docs/DESIGN.md invariant 6, docs/airtable-reference.md §2.1), end to end:
 * app (fetch / airtable.js) → proxy → emulator, with the proxy's budget on a virtual clock that
 * only moves when a test moves it. The emulator being contacted or not is observed through its
 * fault queue: a queued fault is used up by the first request that reaches it.
 */
const RATE_LIMITED = {
  error: { type: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' },
};

let db: Database;
let s: Stack;
let clock: FakeClock;
let budget: RateBudget;
const asked: Array<{ baseId: string; priority: string; token?: string }> = [];
/** Per request let through that promised to report its answer: whether it did yet. */
const answers: boolean[] = [];
const proxyBudget: ProxyBudget = {
  acquire: async (baseId, opts) => {
    asked.push({ baseId, priority: opts.priority, token: opts.token });
    const departure = await budget.acquire(baseId, opts);
    if (!opts.reportsAnswer) return departure;
    const i = answers.push(false) - 1;
    return {
      answered: () => {
        answers[i] = true;
        departure?.answered();
      },
    };
  },
  penalize: (baseId) => budget.penalize(baseId),
  stats: (baseId) => budget.stats(baseId),
  track: (baseId) => budget.track(baseId),
};

/** A fresh budget for the proxy, on a fresh virtual clock (windows of exactly 1 s). */
function useBudget(opts: RateBudgetOptions = {}): RateBudget {
  clock = createFakeClock();
  budget = createRateBudget({ windowMs: 1000, ...opts, now: clock.now, sleep: clock.sleep });
  asked.length = 0;
  answers.length = 0;
  return budget;
}

beforeAll(async () => {
  ({ db } = await createTestDatabase());
  // The timeout is also the longest a request waits for a budget slot.
  s = await startStack(db, { upstreamTimeoutMs: 300, proxyBudget });
});
afterEach(() => s.emulator.control.clearFaults());
afterAll(() => s.close());

function call(path: string, init: { method?: string; body?: unknown; token?: string } = {}) {
  return fetch(`${s.proxyUrl}/api.airtable.com/v0${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.token ?? EMULATOR_TOKEN}`,
      'content-type': 'application/json',
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

/** Queues a fault no request has reached yet: still pending afterwards = Airtable never contacted. */
function probeUpstream() {
  s.emulator.control.fail({ kind: 'status', status: 503 });
  return { contacted: () => s.emulator.control.pendingFaults() === 0 };
}

async function customerRow(): Promise<{ id: string; notes: string | null }> {
  const t = s.table('Customers');
  const notes = t.columns.find((c) => c.fieldName === 'Notes')!.column;
  const r = await db.query<{ id: string; notes: string | null }>(
    sql(
      `SELECT id, ${quoteIdent(notes)} AS notes FROM ${quoteQualified(t.schema, t.table)} ORDER BY id LIMIT 1`,
    ),
  );
  return r.rows[0];
}

const outboxCount = async () =>
  (await db.query<{ n: number }>(sql('SELECT count(*)::int AS n FROM airmirror.outbox'))).rows[0].n;

async function expectRateLimited(res: Response) {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(await res.json()).toEqual(RATE_LIMITED);
}

describe('the proxy meters every request that addresses a base', () => {
  it('reads (records, schema, webhooks) take a high-priority slot, with the app’s token once Airtable accepted it', async () => {
    useBudget({ perSecond: 100 });
    const page = await s.base('Customers').select({ pageSize: 2 }).firstPage();
    expect(page).toHaveLength(2);
    expect((await call(`/meta/bases/${DEMO_BASE_ID}/tables`)).status).toBe(200);
    await (await call(`/bases/${DEMO_BASE_ID}/webhooks`)).arrayBuffer();
    expect(budget.stats(DEMO_BASE_ID).sent).toBe(3);
    // The proxy's first request with a token it has not seen accepted has no token window (a
    // made-up token must leave nothing behind); Airtable's 200 makes it known.
    expect(asked).toEqual([
      { baseId: DEMO_BASE_ID, priority: 'high', token: undefined },
      ...[...Array(2)].map(() => ({ baseId: DEMO_BASE_ID, priority: 'high', token: EMULATOR_TOKEN })),
    ]);
    // Airtable accepted requests to the base: it is tracked (metrics).
    expect(Object.keys(budget.allStats())).toEqual([DEMO_BASE_ID]);
  });

  it('reports when Airtable answered each request it let through, one that timed out too', async () => {
    // The pacer holds the request five after one whose answer was slow (departure-pacer.ts).
    useBudget({ perSecond: 100 });
    answers.length = 0;
    expect((await call(`/meta/bases/${DEMO_BASE_ID}/tables`)).status).toBe(200);
    expect(answers).toEqual([true]);
    s.emulator.control.fail({ kind: 'hang', count: 1, match: { path: '/Customers' } });
    const hung = await call(`/${DEMO_BASE_ID}/Customers`);
    await hung.arrayBuffer();
    expect(hung.status).toBeGreaterThanOrEqual(500);
    expect(answers).toEqual([true, true]);
  });

  it('requests that name no base (whoami, list bases) pass unmetered', async () => {
    useBudget();
    await (await call('/meta/whoami')).arrayBuffer();
    await (await call('/meta/bases')).arrayBuffer();
    expect(asked).toEqual([]);
    expect(budget.allStats()).toEqual({});
  });

  it('the app’s token has its own window: the same token is held, another token is not', async () => {
    // A request Airtable accepts makes the token known to the proxy (see above).
    useBudget({ perSecond: 100 });
    expect((await call('/' + DEMO_BASE_ID + '/Customers?pageSize=1')).status).toBe(200);
    useBudget({ perSecond: 100, perTokenPerSecond: 1 });
    expect((await call('/' + DEMO_BASE_ID + '/Customers?pageSize=1')).status).toBe(200);
    // Same token, same second: no slot within the proxy's timeout, so Airtable's own 429.
    await expectRateLimited(await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`));
    expect(budget.stats(DEMO_BASE_ID)).toMatchObject({ sent: 1, tokenWaits: 1, queued: 0 });
    // Another token is not held by the first one's window: it goes through (the emulator refuses it).
    const other = await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`, { token: 'patSomeoneElse.0000' });
    expect(other.status).toBe(401);
    expect(budget.stats(DEMO_BASE_ID).sent).toBe(2);
  });
});

describe('the proxy never holds an app longer than Airtable would', () => {
  it('while the base is penalized: the RATE_LIMIT_REACHED 429 at once, nothing sent, nothing applied', async () => {
    useBudget();
    budget.penalize(DEMO_BASE_ID);
    const before = { row: await customerRow(), outbox: await outboxCount() };
    const probe = probeUpstream();

    const write = await call(`/${DEMO_BASE_ID}/Customers/${before.row.id}`, {
      method: 'PATCH',
      body: { fields: { Notes: 'must not be applied' } },
    });
    await expectRateLimited(write);
    await expectRateLimited(await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`));
    expect(probe.contacted()).toBe(false);
    expect(await customerRow()).toEqual(before.row);
    expect(await outboxCount()).toBe(before.outbox);
    expect(budget.stats(DEMO_BASE_ID)).toMatchObject({ sent: 0, waits: 0, queued: 0 });

    // Once the 30 s are over, requests reach Airtable again (and the probe does see them).
    await clock.advance(30_000);
    expect((await call(`/${DEMO_BASE_ID}/Customers?pageSize=1`)).status).toBe(503);
    expect(probe.contacted()).toBe(true);
  });

  it('no slot within the proxy’s timeout: the same 429, nothing sent, the waiter gone from the queue', async () => {
    useBudget({ perSecond: 1 });
    await budget.acquire(DEMO_BASE_ID); // the base's window is full, and the clock stands still
    const before = { row: await customerRow(), outbox: await outboxCount() };
    const probe = probeUpstream();

    const write = await call(`/${DEMO_BASE_ID}/Customers/${before.row.id}`, {
      method: 'PATCH',
      body: { fields: { Notes: 'must not be applied' } },
    });
    await expectRateLimited(write);
    expect(probe.contacted()).toBe(false);
    expect(await customerRow()).toEqual(before.row);
    expect(await outboxCount()).toBe(before.outbox);
    expect(budget.stats(DEMO_BASE_ID)).toMatchObject({ sent: 1, waits: 1, queued: 0 });
  });
});
