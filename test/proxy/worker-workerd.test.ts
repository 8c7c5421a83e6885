import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSharedBudget } from '../../src/airtable/shared-budget.ts';
import { callsThisMonth } from '../../src/bookkeeping/airtable-calls.ts';
import { createDatabase } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.ts';
import { waitUntil } from '../support/wait.ts';
import { startWorkerd, type Workerd } from '../support/workerd.ts';
import { startStack, type Stack } from './harness.ts';

/**
 * The Workers proxy in the real Workers runtime: the bundle `wrangler deploy` would upload
 * (built with --dry-run), run by Miniflare in `workerd`, with its queue binding. It reaches the
 * test's Postgres over TCP through a relay the test can cut, and the emulator over HTTP.
 */
let t: TestDatabase;
let s: Stack;
let relay: TcpRelay;
let mf: Miniflare;
let workerd: Workerd;

beforeAll(async () => {
  t = await createTestDatabase();
  s = await startStack(t.db);
  relay = await startTcpRelay({ host: '127.0.0.1', port: Number(new URL(t.url).port) });
  workerd = await startWorkerd({
    bindings: { AIRTABLE_API_URL: s.emulatorUrl, DATABASE_URL: relay.urlFor(t.url) },
    queueProducers: { CATCHUP_QUEUE: 'airmirror-catchup' },
    // As wrangler.toml documents it, with a short retry delay for the test.
    queueConsumers: { 'airmirror-catchup': { maxBatchTimeout: 1, maxRetries: 100, retryDelay: 1 } },
  });
  mf = workerd.mf;
}, 180_000);

afterAll(async () => {
  await workerd?.close();
  await relay?.close();
  await s?.close();
});

const viaWorker = (path: string, init: { method?: string; body?: unknown; token?: string } = {}) =>
  mf.dispatchFetch(`http://proxy.example/api.airtable.com/v0${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.token ?? EMULATOR_TOKEN}`,
      'content-type': 'application/json',
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

const customerName = async (id: string) =>
  (await t.db.query<{ name: string }>(sql('SELECT name FROM public.customers WHERE id = $1', [id]))).rows[0]
    ?.name;

it('a write through the Worker is in Postgres when the app gets its answer, and its call is counted', async () => {
  const res = await viaWorker(`/${DEMO_BASE_ID}/Customers`, {
    method: 'POST',
    body: { fields: { Name: 'Written in workerd' } },
  });
  expect(res.status).toBe(200);
  const created = (await res.json()) as { id: string };
  // No waiting: the answer came after the mirror apply (invariant 4).
  expect(await customerName(created.id)).toBe('Written in workerd');
  // It took its slot from the shared budget, where the call is counted.
  const row = await t.db.query<{ n: number }>(
    sql(`SELECT cardinality(starts) AS n FROM airmirror.budget_keys WHERE key = $1`, [`b:${DEMO_BASE_ID}`]),
  );
  expect(row.rows[0].n).toBeGreaterThanOrEqual(1);
  const calls = (await callsThisMonth(t.db)).reduce((n, c) => n + c.calls, 0);
  expect(calls).toBeGreaterThanOrEqual(1);
}, 60_000);

it('the Worker waits for the base’s window that a Node process filled (one budget for both)', async () => {
  await t.db.query(sql('TRUNCATE airmirror.budget_keys'));
  const db = createDatabase(t.url, { max: 2 });
  try {
    const node = createSharedBudget({ db });
    const before = Date.now();
    for (let i = 0; i < 5; i++) await node.acquire(DEMO_BASE_ID);
    s.emulator.control.clearCalls();
    const res = await viaWorker(`/${DEMO_BASE_ID}/Customers?pageSize=1`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const [call] = s.emulator.control.calls({ baseId: DEMO_BASE_ID });
    // The sixth start of the window: at least one window after the Node process's first.
    expect(call.at - before).toBeGreaterThanOrEqual(1_000);
  } finally {
    await db.close();
  }
}, 60_000);

it('Airtable’s 401 for a token is answered again by the Worker without calling Airtable', async () => {
  s.emulator.control.clearCalls();
  const junk = 'patJunk00000001.' + '00'.repeat(32);
  const first = await viaWorker(`/${DEMO_BASE_ID}/Customers?pageSize=1`, { token: junk });
  const again = await viaWorker(`/${DEMO_BASE_ID}/Customers?pageSize=1`, { token: junk });
  expect(first.status).toBe(401);
  expect(again.status).toBe(401);
  expect(await again.json()).toEqual(await first.json());
  expect(s.emulator.control.calls({ baseId: DEMO_BASE_ID })).toHaveLength(1);
}, 60_000);

it('with Postgres away the app still gets its answer; the queue applies the write once Postgres is back', async () => {
  await relay.cut();
  try {
    const res = await viaWorker(`/${DEMO_BASE_ID}/Customers`, {
      method: 'POST',
      body: { fields: { Name: 'Queued in workerd' } },
    });
    expect(res.status).toBe(200);
    const created = (await res.json()) as { id: string };
    expect(await customerName(created.id)).toBeUndefined();
    await relay.restore();
    // The queue's consumer applies the records once Postgres answers: no syncer, no re-fetch.
    await waitUntil(async () => (await customerName(created.id)) === 'Queued in workerd', {
      what: 'the queued write in the mirror',
      timeoutMs: 30_000,
    });
    const left = await t.db.query(sql('SELECT 1 FROM airmirror.catchup WHERE record_id = $1', [created.id]));
    expect(left.rowCount).toBe(0);
  } finally {
    await relay.restore();
  }
}, 90_000);
