/**
 * Pings and catch-up with two processes on one Postgres (docs/ownership.md): a ping may reach the
 * process that does not own the base (the load balancer decides); it passes it on, and only the
 * owner reads and applies the payloads. The catch-up queue of proxy writes is drained by the
 * owner only. Two Database handles, two ownership managers and two webhook services play two
 * processes; the emulator's pings always go to the process that does not own the base.
 */
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAirtableClient } from '../../src/airtable/index.ts';
import { CatchupLoop } from '../../src/catchup/loop.ts';
import { insertCatchup } from '../../src/catchup/store.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { followOwnership, webhookOwnership } from '../../src/replicas.ts';
import { webhookReceiver, webhookRoutes } from '../../src/webhooks/routes.ts';
import { createWebhookService, type WebhookService } from '../../src/webhooks/service.ts';
import type { WebhookClient } from '../../src/webhooks/types.ts';
import { createBaseOwnership, type BaseOwnership } from '../../sync/ownership.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';
import {
  API_URL,
  DEMO_BASE_ID,
  EMULATOR_TOKEN,
  emulatorFetch,
  harness,
  SOURCE_ID,
  silentLog,
  type Harness,
} from '../sync/fixture.ts';

const secrets = createSecretBox('webhook-replicas-key-0123456789');
let t: TestDatabase;
let h: Harness;
let second: Database;

interface Proc {
  name: string;
  db: Database;
  ownership: BaseOwnership;
  service: WebhookService;
  receiver: Hono;
  payloadReads: number;
}
const procs: Proc[] = [];
const owner = () => procs.find((p) => p.ownership.owns(SOURCE_ID));
const nonOwner = () => procs.find((p) => !p.ownership.owns(SOURCE_ID))!;

beforeAll(async () => {
  t = await createTestDatabase();
  second = createDatabase(t.url, { max: 5 });
  h = await harness(t.db, {
    emulator: {
      // Airtable's pings reach whichever process does not own the base.
      fetch: async (input, init) => nonOwner().receiver.fetch(new Request(input, init)),
    },
  });
  const [built] = await h.syncer.syncAll();
  expect(built.error).toBeUndefined();
  await t.db.query(
    sql(`UPDATE airmirror.tables SET sync_type = 'webhook' WHERE source_id = $1`, [SOURCE_ID]),
  );
  for (const [name, db] of [
    ['A', t.db],
    ['B', second],
  ] as const) {
    const ownership = createBaseOwnership({ db, log: silentLog, role: 'start', tickMs: 100 });
    const client = createAirtableClient({
      apiUrl: API_URL,
      token: EMULATOR_TOKEN,
      fetch: emulatorFetch(h.emulator),
      budget: h.budget,
      now: h.clock.now,
      sleep: h.clock.sleep,
    });
    const proc = { name, db, ownership, payloadReads: 0 } as Proc;
    const counted: WebhookClient = {
      ...client,
      listPayloads: (...a) => {
        proc.payloadReads++;
        return client.listPayloads(...a);
      },
    };
    proc.service = createWebhookService({
      db,
      secrets,
      clientFor: () => counted,
      publicUrl: 'https://airmirror.example',
      owner: webhookOwnership(ownership, silentLog),
      log: silentLog,
    });
    proc.receiver = webhookReceiver(proc.service);
    followOwnership(ownership, {
      scheduler: { nudge: () => undefined, cancelHere: async () => false },
      syncer: { cancel: () => false, refreshSchema: async () => undefined },
      webhooks: proc.service,
      catchup: { nudge: () => undefined },
      log: silentLog,
    });
    procs.push(proc);
  }
  for (const p of procs) await p.ownership.start();
  await waitUntil(() => owner(), { what: 'one process to own the base' });
  const res = await webhookRoutes(procs[0].service).request(`/sources/${SOURCE_ID}/webhook`, {
    method: 'POST',
  });
  expect(res.status).toBe(201);
});

afterAll(async () => {
  for (const p of procs) {
    await p.service.stop();
    await p.ownership.stop();
  }
  await second.close();
});

async function name(id: string): Promise<unknown> {
  const m = await h.table('Customers');
  const r = await t.db.query(
    sql(`SELECT name FROM ${quoteQualified(m.schema, m.table)} WHERE id = $1`, [id]),
  );
  return r.rows[0]?.name;
}

describe('two processes, one base', () => {
  it('a ping that reaches the other process is passed on, and the owner alone drains it', async () => {
    const own = owner()!;
    const other = nonOwner();
    const [created] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [
      { fields: { Name: 'Pinged elsewhere' } },
    ]);
    await h.emulator.webhooks.flush();
    await waitUntil(async () => (await name(created.id)) === 'Pinged elsewhere', {
      what: 'the owner to drain the payload',
    });
    await own.service.idle();
    expect(own.payloadReads).toBeGreaterThan(0);
    expect(other.payloadReads).toBe(0);
    const hook = await t.db.query<{ cursor: string; last_ping_at: Date | null }>(
      sql('SELECT cursor::text, last_ping_at FROM airmirror.webhooks WHERE source_id = $1', [SOURCE_ID]),
    );
    expect(Number(hook.rows[0].cursor)).toBe(2);
    expect(hook.rows[0].last_ping_at).not.toBeNull();
  });

  it('the catch-up queue is drained by the owner of the base, never by the other process', async () => {
    const own = owner()!;
    const other = nonOwner();
    const [c] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [{ fields: { Name: 'Queued' } }]);
    await t.db.query(
      insertCatchup(DEMO_BASE_ID, 'Customers', [
        {
          baseId: DEMO_BASE_ID,
          tableRef: 'Customers',
          recordId: c.id,
          op: 'upsert',
          queuedAt: new Date().toISOString(),
        },
      ]),
    );
    const fetchedBy: string[] = [];
    const loop = (p: Proc) =>
      new CatchupLoop({
        db: p.db,
        log: silentLog,
        owner: p.ownership,
        fetchRecords: async (q) => {
          fetchedBy.push(p.name);
          return h.client.getRecordsByIds(q.baseId, q.tableId, q.recordIds);
        },
      });
    const byOther = await loop(other).pass();
    expect(byOther).toEqual({ applied: 0, deleted: 0, remaining: 0 });
    expect(fetchedBy).toEqual([]);
    expect(await name(c.id)).toBeUndefined();
    const byOwner = await loop(own).pass();
    expect(byOwner).toMatchObject({ applied: 1, remaining: 0 });
    expect(fetchedBy).toEqual([own.name]);
    expect(await name(c.id)).toBe('Queued');
  });
});
