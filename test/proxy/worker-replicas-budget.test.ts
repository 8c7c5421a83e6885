import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_BASE_ID, EMULATOR_TOKEN, type EmulatorCall } from '../../emulator/index.ts';
import { replicaHarness } from '../e2e/replicas-support.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startEmulatorProcess, type EmulatorProcess } from '../support/emulator-process.ts';
import { waitUntil } from '../support/wait.ts';
import { startWorkerd, type Workerd } from '../support/workerd.ts';

/**
 * Issue 12: "a Worker and two Node replicas writing and syncing at once never exceed the budget at
 * the emulator". Two `airmirror start` processes on one Postgres (one of them owns the base and
 * syncs it; the test asks every table to sync again through the other one's API as the writes
 * begin, so the owner lists while all three write) and the Workers proxy in real `workerd`
 * (Miniflare, the bundle `wrangler deploy` builds), all three taking writes at once, against the
 * emulator in a process of its own with Airtable's limit on (5 requests/s per base, counted on
 * arrival; a request beyond it answered 429). Only the shared budget in Postgres keeps them
 * within it: each alone would send up to 5 a second.
 */
let t: TestDatabase;
let emu: EmulatorProcess;
let mf: Miniflare;
let workerd: Workerd;
let harness: ReturnType<typeof replicaHarness>;
const replicas: { proxy: string; api: string }[] = [];

/** A replica mirroring the demo base alone: its proxy and its management API. */
async function startReplica(): Promise<{ proxy: string; api: string }> {
  const r = await harness.startReplica({ AIRTABLE_BASES: `${DEMO_BASE_ID}:shop` });
  return { proxy: `${r.url}/api.airtable.com`, api: `${r.url}/api` };
}

beforeAll(async () => {
  t = await createTestDatabase();
  emu = await startEmulatorProcess({ rateLimit: 5, records: 300 });
  harness = replicaHarness(t.url, emu.url);
  workerd = await startWorkerd({ bindings: { AIRTABLE_API_URL: emu.url, DATABASE_URL: t.url } });
  mf = workerd.mf;
}, 180_000);

afterAll(async () => {
  await workerd?.close();
  await emu?.close();
});

/** Any `limit + 1` consecutive arrivals span at least a second (the emulator's own rule). */
function withinLimit(times: number[], limit: number): boolean {
  return times.every((at, i) => i + limit >= times.length || times[i + limit] - at >= 1000);
}

type Send = (path: string, init: RequestInit) => Promise<Response>;

/** Creates customers one after another for `ms`, as an app would; counts the answers by status. */
async function writer(send: Send, name: string, ms: number): Promise<Record<number, number>> {
  const answers: Record<number, number> = {};
  const until = Date.now() + ms;
  for (let i = 0; Date.now() < until; i++) {
    const res = await send(`/v0/${DEMO_BASE_ID}/Customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fields: { Name: `${name} ${i}` } }),
    });
    await res.arrayBuffer();
    answers[res.status] = (answers[res.status] ?? 0) + 1;
  }
  return answers;
}

it('a Worker and two Node replicas writing and syncing at once never exceed 5 requests/s at the emulator', async () => {
  await emu.clearCalls();
  replicas.push(await startReplica());
  replicas.push(await startReplica());
  // The owner builds the base alone; once that is done, every table is asked to sync again through
  // the second replica's API (the owner hears of it through Postgres), so listing (300 records a
  // table: 3 pages each) goes on while the three write.
  const api = replicas[1].api;
  const schemas = await waitUntil(
    async () => {
      const body = (await (await fetch(`${api}/schemas`)).json()) as {
        results: { id: string; status: string }[];
      };
      return body.results.length === 3 && body.results.every((r) => r.status === 'Completed')
        ? body.results
        : undefined;
    },
    { what: 'the first sync of the base', timeoutMs: 60_000, intervalMs: 100 },
  );
  const reloads = schemas.map(async (s) => {
    const res = await fetch(`${api}/schemas/${s.id}/reload`, { method: 'POST' });
    expect(res.status).toBe(202);
  });
  const viaReplica =
    (proxy: string): Send =>
    (path, init) =>
      fetch(`${proxy}${path}`, init);
  const viaWorker: Send = (path, init) =>
    mf.dispatchFetch(
      `http://proxy.example/api.airtable.com${path}`,
      init as never,
    ) as unknown as Promise<Response>;
  const writers = Promise.all([
    writer(viaReplica(replicas[0].proxy), 'replica A', 8_000),
    writer(viaReplica(replicas[1].proxy), 'replica B', 8_000),
    writer(viaWorker, 'worker', 8_000),
  ]);
  await Promise.all(reloads);
  const [a, b, w] = await writers;

  const calls: EmulatorCall[] = await emu.calls({ base: DEMO_BASE_ID });
  // Nothing Airtable would have refused: no 429 (each one a 30-s lockout of the base), and no
  // second with more than 5 arrivals.
  expect(calls.filter((c) => c.status === 429)).toEqual([]);
  expect(
    withinLimit(
      calls.map((c) => c.at),
      5,
    ),
  ).toBe(true);
  // All three wrote through Airtable, and syncing went on meanwhile: the budget was shared, not
  // given to one of them.
  for (const answers of [a, b, w]) expect(answers[200]).toBeGreaterThan(0);
  const writes = calls.filter((c) => c.method === 'POST' && c.path.endsWith('/Customers'));
  const lists = calls.filter((c) => c.method === 'GET');
  expect(writes).toHaveLength((a[200] ?? 0) + (b[200] ?? 0) + (w[200] ?? 0));
  expect(lists.some((l) => l.at > writes[0].at && l.at < writes[writes.length - 1].at)).toBe(true);
  // The base was busy: well over a few seconds' worth of requests went out.
  expect(calls.length).toBeGreaterThanOrEqual(30);
}, 240_000);
