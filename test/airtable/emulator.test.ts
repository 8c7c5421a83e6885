import { describe, expect, it } from 'vitest';
import { createAirtableClient, type AirtableRequestEvent } from '../../src/airtable/client.ts';
import { ListingRestartRequired } from '../../src/airtable/errors.ts';
import { createRateBudget } from '../../src/airtable/rate-budget.ts';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { DEMO_BASE_ID, DEMO_TABLES, EMULATOR_TOKEN, useEmulator } from '../support/emulator.ts';
import { createFakeClock } from '../support/fake-clock.ts';

/**
 * The client against the project's Airtable emulator (in-process through msw), on one virtual
 * clock shared by the emulator's rate limiter and the client's budget and backoff.
 */
const clock = createFakeClock();
const emulator = useEmulator({ records: 230, rateLimit: 5, now: clock.now });
// One budget for the whole file, as in the process (invariant 6): separate budgets would each
// allow 5 requests/s and together overrun the emulator's limit.
const budget = createRateBudget({ now: clock.now, sleep: clock.sleep });

function setup(opts: { timeoutMs?: number; maxAttempts?: number } = {}) {
  const events: AirtableRequestEvent[] = [];
  const client = createAirtableClient({
    apiUrl: 'https://api.airtable.com',
    token: EMULATOR_TOKEN,
    // Resolved per call: msw patches globalThis.fetch when the suite starts.
    fetch: (input, init) => globalThis.fetch(input, init),
    budget,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    onRequest: (e) => events.push(e),
    ...opts,
  });
  return { client, budget, events, run: <T>(p: Promise<T>) => clock.run(p) };
}

async function ordersTableId(): Promise<string> {
  const { client, run } = setup();
  const schema = await run(client.getBaseSchema(DEMO_BASE_ID));
  return schema.tables.find((t) => t.name === DEMO_TABLES.orders)!.id;
}

async function listAll(table: string): Promise<AirtableRecord[]> {
  const { client, run } = setup();
  const out: AirtableRecord[] = [];
  await run(
    (async () => {
      for await (const page of client.listAllRecords(DEMO_BASE_ID, table)) out.push(...page.records);
    })(),
  );
  return out;
}

describe('client against the emulator', () => {
  it('reads the schema, lists every page by field id, and fetches records by id', async () => {
    const orders = await ordersTableId();
    const { client, run } = setup();
    const pages: number[] = [];
    for await (const page of client.listAllRecords(DEMO_BASE_ID, orders)) pages.push(page.records.length);
    expect(pages).toEqual([100, 100, 30]);

    const all = await listAll(orders);
    expect(new Set(all.map((r) => r.id)).size).toBe(230);
    expect(Object.keys(all[0].fields).every((k) => k.startsWith('fld'))).toBe(true);

    const wanted = [all[200].id, all[3].id, 'recDoesNotExist00', ...all.slice(50, 180).map((r) => r.id)];
    const got = await run(client.getRecordsByIds(DEMO_BASE_ID, orders, wanted));
    expect(got.map((r) => r.id)).toEqual(wanted.filter((id) => id !== 'recDoesNotExist00'));
    expect(got[0]).toEqual(all[200]);
  });

  it('whoami and listBases answer without touching the per-base budget', async () => {
    const { client, run } = setup();
    const before = budget.stats(DEMO_BASE_ID).sent;
    expect((await run(client.whoami())).id).toMatch(/^usr/);
    expect((await run(client.listBases())).map((b) => b.id)).toContain(DEMO_BASE_ID);
    expect(budget.stats(DEMO_BASE_ID).sent).toBe(before);
  });

  it('retries injected 503s honouring Retry-After, then a 502 and a cut body, and succeeds', async () => {
    const orders = await ordersTableId();
    const { client, run, events } = setup();
    emulator.control.fail({
      kind: 'status',
      status: 503,
      count: 2,
      retryAfterSeconds: 3,
      match: { path: orders },
    });
    emulator.control.fail({ kind: 'status', status: 502, match: { path: orders } });
    emulator.control.fail({ kind: 'truncate', match: { path: orders } });
    await clock.advance(2000); // a fresh budget window, so only backoff sleeps below
    const sleepsBefore = clock.sleeps.length;
    const page = await run(client.listRecordsPage(DEMO_BASE_ID, orders, { pageSize: 5 }));
    expect(page.records).toHaveLength(5);
    expect(events.map((e) => [e.attempt, e.status, e.error])).toEqual([
      [1, 503, undefined],
      [2, 503, undefined],
      [3, 502, undefined],
      [4, 0, 'CONNECTION_ERROR'],
      [5, 200, undefined],
    ]);
    // Retry-After on the 503s; jittered windows (0.5 × 2 s, 0.5 × 4 s) after the 502 and the cut body.
    expect(clock.sleeps.slice(sleepsBefore)).toEqual([3000, 3000, 1000, 2000]);
  });

  it('a hanging upstream becomes a timeout and the retry goes through', async () => {
    const orders = await ordersTableId();
    const { client, run, events } = setup({ timeoutMs: 50 });
    emulator.control.fail({ kind: 'hang', match: { path: orders } });
    const page = await run(client.listRecordsPage(DEMO_BASE_ID, orders, { pageSize: 1 }));
    expect(page.records).toHaveLength(1);
    expect(events.map((e) => [e.status, e.error])).toEqual([
      [0, 'TIMEOUT'],
      [200, undefined],
    ]);
  });

  it('an expired iterator mid-listing surfaces as ListingRestartRequired', async () => {
    const orders = await ordersTableId();
    const { client, run } = setup();
    const seen: number[] = [];
    const err = await run(
      (async () => {
        for await (const page of client.listAllRecords(DEMO_BASE_ID, orders)) {
          seen.push(page.pageNumber);
          emulator.control.expireOffsets();
        }
      })().catch((e: unknown) => e),
    );
    expect(seen).toEqual([1]);
    expect(err).toBeInstanceOf(ListingRestartRequired);
    expect(err).toMatchObject({ details: { pageNumber: 2 } });
  });

  it('40 concurrent requests stay within the emulator’s 5 requests/s: no 429', async () => {
    const orders = await ordersTableId();
    const { client, run, events } = setup();
    const waitsBefore = budget.stats(DEMO_BASE_ID).waits;
    await run(
      Promise.all(
        Array.from({ length: 40 }, () => client.listRecordsPage(DEMO_BASE_ID, orders, { pageSize: 1 })),
      ),
    );
    expect(events).toHaveLength(40);
    expect(events.every((e) => e.status === 200)).toBe(true);
    expect(budget.stats(DEMO_BASE_ID).waits - waitsBefore).toBeGreaterThan(30);
  });

  it('when someone else exhausted the base, the 429 penalty holds every request 30 s, then they succeed', async () => {
    const orders = await ordersTableId();
    await clock.advance(2000); // a fresh window on the emulator
    // Another process (not sharing our budget) uses up the base's second.
    for (let i = 0; i < 5; i++) {
      const res = await globalThis.fetch(`https://api.airtable.com/v0/meta/bases/${DEMO_BASE_ID}/tables`, {
        headers: { authorization: `Bearer ${EMULATOR_TOKEN}` },
      });
      expect(res.status).toBe(200);
    }
    const { client, run, events } = setup();
    const limitedBefore = budget.stats(DEMO_BASE_ID).rateLimited;
    const t0 = clock.now();
    const times: number[] = [];
    const pages = Array.from({ length: 3 }, () =>
      client.listRecordsPage(DEMO_BASE_ID, orders, { pageSize: 1 }).then(() => times.push(clock.now() - t0)),
    );
    await run(Promise.all(pages));
    // All three were in flight before the first 429 came back; each is retried once, after 30 s.
    expect(events.map((e) => [e.attempt, e.status])).toEqual([
      [1, 429],
      [1, 429],
      [1, 429],
      [2, 200],
      [2, 200],
      [2, 200],
    ]);
    expect(budget.stats(DEMO_BASE_ID).rateLimited - limitedBefore).toBe(3);
    expect(times.every((t) => t >= 30_000)).toBe(true);
  });

  it('manages a webhook end to end (docs/airtable-reference.md §4.1)', async () => {
    const orders = await ordersTableId();
    const { client, run } = setup();
    const created = await run(
      client.createWebhook(DEMO_BASE_ID, {
        specification: { options: { filters: { dataTypes: ['tableData'], recordChangeScope: orders } } },
      }),
    );
    expect(created.id).toMatch(/^ach/);
    expect(typeof created.macSecretBase64).toBe('string');
    expect((await run(client.listWebhooks(DEMO_BASE_ID))).map((w) => w.id)).toContain(created.id);
    expect(await run(client.refreshWebhook(DEMO_BASE_ID, created.id))).toHaveProperty('expirationTime');
    await run(client.enableNotifications(DEMO_BASE_ID, created.id, false));

    const [first] = await listAll(orders);
    emulator.control.deleteRecords(DEMO_BASE_ID, orders, [first.id]);
    const drained = await run(client.listPayloads(DEMO_BASE_ID, created.id, { cursor: 1, limit: 50 }));
    expect(drained.payloads.length).toBeGreaterThanOrEqual(1);
    expect(drained.cursor).toBe(1 + drained.payloads.length);
    expect(JSON.stringify(drained.payloads)).toContain(first.id);

    await run(client.deleteWebhook(DEMO_BASE_ID, created.id));
    expect((await run(client.listWebhooks(DEMO_BASE_ID))).map((w) => w.id)).not.toContain(created.id);
  });
});
