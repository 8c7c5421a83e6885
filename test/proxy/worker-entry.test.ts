import { afterAll, beforeAll, expect, it } from 'vitest';
import worker, { consumeCatchup, type CatchupMessage } from '../../proxy/worker.ts';
import { sql } from '../../src/db/sql.ts';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { startStack, type Stack } from './harness.ts';

/**
 * The Workers entry run under Node: env vars as Workers would pass them, pg over TCP, a
 * waitUntil that collects promises. The bundle itself is checked by worker-bundle.test.ts.
 */
let t: TestDatabase;
let s: Stack;
beforeAll(async () => {
  t = await createTestDatabase();
  s = await startStack(t.db); // for the emulator and the mirrored demo base
});
afterAll(() => s.close());

it('builds the proxy from env (AIRTABLE_API_URL, DATABASE_URL) and writes through', async () => {
  const pending: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p) };
  const env = { AIRTABLE_API_URL: s.emulatorUrl, DATABASE_URL: t.url };
  const res = await worker.fetch(
    new Request(`https://proxy.example/api.airtable.com/v0/${DEMO_BASE_ID}/Customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fields: { Name: 'From a Worker' } }),
    }),
    env,
    ctx,
  );
  expect(res.status).toBe(200);
  const created = (await res.json()) as { id: string };
  await Promise.all(pending);
  const row = await t.db.query(sql('SELECT name FROM public.customers WHERE id = $1', [created.id]));
  expect(row.rows).toEqual([{ name: 'From a Worker' }]);

  const refused = await worker.fetch(new Request('https://proxy.example/evil.com/v0/x'), env, ctx);
  expect(refused.status).toBe(400);
});

it('a Hyperdrive binding takes precedence over DATABASE_URL', async () => {
  const pending: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p) };
  const env = {
    AIRTABLE_API_URL: s.emulatorUrl,
    DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none',
    HYPERDRIVE: { connectionString: t.url },
  };
  const res = await worker.fetch(
    new Request(`https://proxy.example/api.airtable.com/v0/${DEMO_BASE_ID}/Customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fields: { Name: 'Via Hyperdrive' } }),
    }),
    env,
    ctx,
  );
  const created = (await res.json()) as { id: string };
  await Promise.all(pending);
  const row = await t.db.query(sql('SELECT name FROM public.customers WHERE id = $1', [created.id]));
  expect(row.rows).toEqual([{ name: 'Via Hyperdrive' }]);
});

it('with Postgres unreachable, a CATCHUP_QUEUE keeps the ids until its consumer can store them', async () => {
  const pending: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p) };
  const sent: CatchupMessage[] = [];
  const down = 'postgres://nobody:x@127.0.0.1:1/none';
  const res = await worker.fetch(
    new Request(`https://proxy.example/api.airtable.com/v0/${DEMO_BASE_ID}/Customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fields: { Name: 'While Postgres was down' } }),
    }),
    {
      AIRTABLE_API_URL: s.emulatorUrl,
      DATABASE_URL: down,
      CATCHUP_QUEUE: { send: async (m) => void sent.push(m) },
    },
    ctx,
  );
  // Airtable accepted the write: the app gets its answer whatever happened to the mirror.
  expect(res.status).toBe(200);
  const created = (await res.json()) as { id: string };
  await Promise.all(pending);
  expect(sent).toHaveLength(1);
  expect(sent[0].items.map((i) => [i.recordId, i.op])).toEqual([[created.id, 'upsert']]);
  // Ids only: no record contents and no token travel through the queue.
  expect(JSON.stringify(sent)).not.toContain('While Postgres was down');
  expect(JSON.stringify(sent)).not.toContain(EMULATOR_TOKEN);

  // The consumer retries while Postgres is still down…
  const outcome: string[] = [];
  const message = (body: unknown) => ({
    body,
    ack: () => void outcome.push('ack'),
    retry: () => void outcome.push('retry'),
  });
  await consumeCatchup({ messages: [message(sent[0])] }, { DATABASE_URL: down });
  expect(outcome).toEqual(['retry']);

  // …and stores the ids once it answers; the table is flagged for catch-up.
  await consumeCatchup(
    { messages: [message(sent[0]), message({ nonsense: true })] },
    { DATABASE_URL: t.url },
  );
  expect(outcome).toEqual(['retry', 'ack', 'ack']);
  const queued = await t.db.query(
    sql('SELECT record_id, op FROM airmirror.catchup WHERE record_id = $1', [created.id]),
  );
  expect(queued.rows).toEqual([{ record_id: created.id, op: 'upsert' }]);
  const flagged = await t.db.query<{ needs_catchup: boolean }>(
    sql(`SELECT needs_catchup FROM airmirror.tables WHERE table_name = 'Customers'`),
  );
  expect(flagged.rows).toEqual([{ needs_catchup: true }]);
});
