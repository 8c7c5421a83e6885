import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import worker, { consumeCatchup, workerConfig, type CatchupMessage } from '../../proxy/worker.ts';
import { parseConfig } from '../../src/config.ts';
import { quoteIdent } from '../../src/db/quote.ts';
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

it('with Postgres unreachable, a CATCHUP_QUEUE keeps the write until its consumer can apply it', async () => {
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
  // The records Airtable answered travel (a Worker has no token to re-fetch them); no token does.
  expect(sent[0].write?.records.map((r) => [r.id, r.fields.Name])).toEqual([
    [created.id, 'While Postgres was down'],
  ]);
  expect(sent[0].write).toMatchObject({ baseId: DEMO_BASE_ID, tableRef: 'Customers', keyedBy: 'name' });
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

  // …and applies the write once it answers: the row is in the mirror, nothing left to re-fetch.
  await consumeCatchup(
    { messages: [message(sent[0]), message({ nonsense: true })] },
    { DATABASE_URL: t.url },
  );
  expect(outcome).toEqual(['retry', 'ack', 'ack']);
  const row = await t.db.query(sql('SELECT name FROM public.customers WHERE id = $1', [created.id]));
  expect(row.rows).toEqual([{ name: 'While Postgres was down' }]);
  const queued = await t.db.query(
    sql('SELECT record_id FROM airmirror.catchup WHERE record_id = $1', [created.id]),
  );
  expect(queued.rows).toEqual([]);
});

it('a queued write never rolls back a newer one: that row is re-fetched instead', async () => {
  const customers = s.table('Customers');
  const page = await s.client.listRecordsPage(DEMO_BASE_ID, 'Customers', { pageSize: 1 });
  const id = page.records[0].id;
  const answeredAt = new Date(Date.now() - 60_000).toISOString();
  // Newer: written through the Node proxy after that queued answer.
  await s.base('Customers').update(id, { Notes: 'newer, through the proxy' });
  const outcome: string[] = [];
  await consumeCatchup(
    {
      messages: [
        {
          body: {
            write: {
              baseId: DEMO_BASE_ID,
              tableRef: 'Customers',
              keyedBy: 'name',
              records: [{ id, createdTime: page.records[0].createdTime, fields: { Notes: 'older, queued' } }],
              deletedIds: [],
              answeredAt,
            },
          },
          ack: () => void outcome.push('ack'),
          retry: () => void outcome.push('retry'),
        },
      ],
    },
    { DATABASE_URL: t.url },
  );
  expect(outcome).toEqual(['ack']);
  const notes = customers.columns.find((c) => c.fieldName === 'Notes')!.column;
  const row = await t.db.query(
    sql(`SELECT ${quoteIdent(notes)} AS notes FROM public.customers WHERE id = $1`, [id]),
  );
  expect(row.rows).toEqual([{ notes: 'newer, through the proxy' }]);
  const queued = await t.db.query(sql('SELECT op FROM airmirror.catchup WHERE record_id = $1', [id]));
  expect(queued.rows).toEqual([{ op: 'upsert' }]);
});

describe('settings', () => {
  it('come from the configuration parser of airmirror start, with its defaults', () => {
    const node = parseConfig({});
    const config = workerConfig({ AIRTABLE_API_URL: 'https://api.airtable.com/' });
    expect(config).toEqual({
      databaseUrl: undefined,
      airtableApiUrl: 'https://api.airtable.com',
      upstreamTimeoutMs: node.upstreamTimeoutMs,
      maxBodyBytes: node.maxBodyBytes,
      pgPreparedStatements: true,
      rateLimitPerSecond: node.rateLimitPerSecond,
    });
    // Bindings are not vars: they neither count as unknown options nor get parsed.
    const bound = workerConfig({
      DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none',
      HYPERDRIVE: { connectionString: 'postgres://via:hyperdrive@127.0.0.1:2/db' },
      CATCHUP_QUEUE: { send: async () => undefined },
      AIRMIRROR_PG_PREPARED_STATEMENTS: 'off',
    });
    expect(bound.databaseUrl).toBe('postgres://via:hyperdrive@127.0.0.1:2/db');
    expect(bound.pgPreparedStatements).toBe(false);
  });

  it('AIRMIRROR_MAX_BODY_BYTES bounds the body, as on Node', async () => {
    const ctx = { waitUntil: () => undefined };
    const post = (env: Record<string, string>) =>
      worker.fetch(
        new Request(`https://proxy.example/api.airtable.com/v0/${DEMO_BASE_ID}/Customers`, {
          method: 'POST',
          headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ fields: { Name: 'x'.repeat(2_000) } }),
        }),
        { AIRTABLE_API_URL: s.emulatorUrl, ...env },
        ctx,
      );
    const refused = await post({ AIRMIRROR_MAX_BODY_BYTES: '1024' });
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({
      error: { type: 'REQUEST_TOO_LARGE', message: 'Request body exceeds the proxy limit of 1024 bytes' },
    });
    expect((await post({})).status).toBe(200);
  });

  it('a bad var answers 500 with one line naming it (and logs that line)', async () => {
    const errors: unknown[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line) => void errors.push(line));
    try {
      const res = await worker.fetch(
        new Request(`https://proxy.example/api.airtable.com/v0/${DEMO_BASE_ID}/Customers`),
        { AIRTABLE_API_URL: s.emulatorUrl, AIRMIRROR_UPSTREAM_TIMEOUT_MS: 'soon' },
        { waitUntil: () => undefined },
      );
      expect(res.status).toBe(500);
      const body = (await res.json()) as { error: { type: string; message: string } };
      expect(body.error.type).toBe('PROXY_MISCONFIGURED');
      expect(body.error.message).toBe(
        'The airmirror proxy is misconfigured: AIRMIRROR_UPSTREAM_TIMEOUT_MS: must be a whole number, got "soon"',
      );
      expect(errors).toEqual([
        'airmirror: AIRMIRROR_UPSTREAM_TIMEOUT_MS: must be a whole number, got "soon"',
      ]);
    } finally {
      spy.mockRestore();
    }
  });
});
