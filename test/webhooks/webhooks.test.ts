import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ListPayloadsResponse } from '../../src/airtable/types.ts';
import { formatStatusTable, tableStatuses } from '../../src/api/status.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { computeAirtableMac } from '../../src/webhooks/mac.ts';
import { webhookReceiver, webhookRoutes } from '../../src/webhooks/routes.ts';
import type { WebhookService } from '../../src/webhooks/service.ts';
import { webhookStrategy } from '../../src/webhooks/strategy.ts';
import type { WebhookClient } from '../../src/webhooks/types.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { DEMO_BASE_ID, harness, SOURCE_ID, type Harness } from '../sync/fixture.ts';
import { PUBLIC_URL, webhookService } from './fixture.ts';

/**
 * Airtable webhooks in, end to end against the emulator: its pings reach our receiver through an
 * injected fetch, payloads are read with the real client, the mirror is built by the real syncer.
 */
let t: TestDatabase;
let h: Harness;
let receiver: Hono;
let api: Hono;
let service: WebhookService;
/** Lets a test rewrite payload pages (to prove a behaviour does not depend on Airtable's extras). */
let rewritePayloads: ((page: ListPayloadsResponse) => ListPayloadsResponse) | undefined;
let pingsSeen = 0;
let payloadReads = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, {
    emulator: {
      fetch: async (input, init) => {
        pingsSeen++;
        return receiver.fetch(new Request(input, init));
      },
    },
    // The scheduled run of a `webhook` table is the safety-net sweep.
    syncer: { strategies: [webhookStrategy] },
  });
  const [built] = await h.syncer.syncAll();
  expect(built.error).toBeUndefined();
  await t.db.query(
    sql(`UPDATE airmirror.tables SET sync_type = 'webhook' WHERE source_id = $1`, [SOURCE_ID]),
  );
  const client = h.client;
  const wrapped: WebhookClient = {
    ...client,
    listPayloads: async (...a) => {
      payloadReads++;
      const page = await client.listPayloads(...a);
      return rewritePayloads ? rewritePayloads(page) : page;
    },
  };
  service = webhookService(h, { clientFor: () => wrapped, syncer: h.syncer, hashCache: h.syncer.hashCache });
  receiver = webhookReceiver(service);
  api = webhookRoutes(service);
});

/** Sends the emulator's pending pings and waits until the drains they caused are done. */
async function settle(): Promise<void> {
  await h.emulator.webhooks.flush();
  await service.idle();
}

async function mirrorRow(table: string, id: string): Promise<Record<string, unknown> | undefined> {
  const m = await h.table(table);
  const r = await t.db.query(sql(`SELECT * FROM ${quoteQualified(m.schema, m.table)} WHERE id = $1`, [id]));
  return r.rows[0];
}

const sweepRuns = async () =>
  Number(
    (await t.db.query<{ n: string }>(sql(`SELECT count(*)::text AS n FROM airmirror.sync_runs`))).rows[0].n,
  );

const hooksAtAirtable = () => h.emulator.webhooks.list(DEMO_BASE_ID).webhooks;

describe('registration', () => {
  it('registers one webhook per base pointing at the receiver, and never shows its secret', async () => {
    const res = await api.request(`/sources/${SOURCE_ID}/webhook`, { method: 'POST' });
    expect(res.status).toBe(201);
    const body = (await res.json()) as {
      webhook_id: string;
      notification_url: string;
      status: string;
      tables: string[];
    };
    expect(body.notification_url).toBe(`${PUBLIC_URL}/hooks/airtable/${SOURCE_ID}`);
    expect(body.status).toBe('active');
    expect(body.tables.sort()).toEqual(['Customers', 'Orders', 'Products']);
    const hooks = hooksAtAirtable();
    expect(hooks.map((x) => x.id)).toEqual([body.webhook_id]);
    expect(hooks[0].notificationUrl).toBe(body.notification_url);

    // Posting again returns the same registration instead of a second hook.
    const again = await api.request(`/sources/${SOURCE_ID}/webhook`, { method: 'POST' });
    expect(again.status).toBe(200);
    expect(hooksAtAirtable()).toHaveLength(1);

    const secret = (await service.macSecret(SOURCE_ID))!;
    expect(secret.length).toBeGreaterThan(10);
    const shown = await (await api.request(`/sources/${SOURCE_ID}/webhook`)).text();
    expect(shown).not.toContain(secret);
    const stored = await t.db.query<{ mac_secret_encrypted: string }>(
      sql('SELECT mac_secret_encrypted FROM airmirror.webhooks WHERE source_id = $1', [SOURCE_ID]),
    );
    expect(stored.rows[0].mac_secret_encrypted).not.toContain(secret);
  });

  it('refuses to register without AIRMIRROR_PUBLIC_URL', async () => {
    const bare = webhookRoutes(webhookService(h, { publicUrl: undefined }));
    const res = await bare.request(`/sources/${SOURCE_ID}/webhook`, { method: 'POST' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('WEBHOOKS_NOT_CONFIGURED');
  });

  it('answers 404 for an unknown source', async () => {
    expect((await api.request('/sources/nope/webhook')).status).toBe(404);
  });
});

describe('pings', () => {
  it('applies Airtable edits, creations and deletions to the mirror without a sweep', async () => {
    const before = await sweepRuns();
    const [product, doomed] = await firstRecords('Products', 2);
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Products', [
      { id: product.id, fields: { Name: 'Renamed by webhook' } },
    ]);
    const [created] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [
      { fields: { Name: 'Newcomer' } },
    ]);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Products', [doomed.id]);
    const pings = pingsSeen;
    await settle();
    expect(pingsSeen).toBeGreaterThan(pings);

    expect((await mirrorRow('Products', product.id))?.name).toBe('Renamed by webhook');
    expect((await mirrorRow('Customers', created.id))?.name).toBe('Newcomer');
    expect(await mirrorRow('Products', doomed.id)).toBeUndefined();
    expect(await sweepRuns()).toBe(before);

    // The cursor moved past what was read, in the same transaction as the changes.
    const info = (await (await api.request(`/sources/${SOURCE_ID}/webhook`)).json()) as { cursor: number };
    expect(info.cursor).toBeGreaterThan(1);
    const events = await t.db.query<{ origin: string; record_id: string; op: string }>(
      sql(`SELECT origin, record_id, op FROM airmirror.outbox WHERE origin = 'webhook'`),
    );
    expect(events.rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ record_id: product.id, op: 'update' }),
        expect.objectContaining({ record_id: created.id, op: 'insert' }),
        expect.objectContaining({ record_id: doomed.id, op: 'delete' }),
      ]),
    );
  });

  it('writes nothing to a paused table: its changes wait, and it owes a full run when it resumes', async () => {
    const productsId = h.tableId('Products');
    await t.db.query(
      sql(`UPDATE airmirror.tables SET should_sync = false, status = 'Paused' WHERE table_id = $1`, [
        productsId,
      ]),
    );
    const [product] = await firstRecords('Products', 1);
    const before = await mirrorRow('Products', product.id);
    const marker = Number(
      (await t.db.query<{ n: string }>(sql('SELECT coalesce(max(id), 0)::text AS n FROM airmirror.outbox')))
        .rows[0].n,
    );
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Products', [
      { id: product.id, fields: { Name: 'While paused' } },
    ]);
    await settle();
    expect(await mirrorRow('Products', product.id)).toEqual(before);
    const events = await t.db.query(
      sql('SELECT 1 FROM airmirror.outbox WHERE id > $1 AND table_id = $2', [marker, productsId]),
    );
    expect(events.rowCount).toBe(0);
    const owed = await t.db.query<{ fill_pending: boolean }>(
      sql('SELECT fill_pending FROM airmirror.tables WHERE table_id = $1', [productsId]),
    );
    expect(owed.rows[0].fill_pending).toBe(true);

    await t.db.query(
      sql(`UPDATE airmirror.tables SET should_sync = true, status = NULL WHERE table_id = $1`, [productsId]),
    );
    const run = await h.syncer.syncTable(SOURCE_ID, productsId);
    expect(run.status).toBe('Completed');
    expect((await mirrorRow('Products', product.id))?.name).toBe('While paused');
    const after = await t.db.query<{ fill_pending: boolean }>(
      sql('SELECT fill_pending FROM airmirror.tables WHERE table_id = $1', [productsId]),
    );
    expect(after.rows[0].fill_pending).toBe(false);
  });

  it('refuses a ping with a bad or missing MAC and accepts a correct one with an empty 200', async () => {
    const body = JSON.stringify({
      base: { id: DEMO_BASE_ID },
      webhook: { id: hooksAtAirtable()[0].id },
      timestamp: new Date(h.clock.now()).toISOString(),
    });
    const post = (headers: Record<string, string>) =>
      receiver.request(`/hooks/airtable/${SOURCE_ID}`, { method: 'POST', headers, body });
    const forged = await computeAirtableMac(btoa('not-the-secret'), body);
    expect((await post({ 'x-airtable-content-mac': forged })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    const good = await computeAirtableMac((await service.macSecret(SOURCE_ID))!, body);
    // A MAC over other bytes (the same JSON re-serialised with spaces) is refused too.
    const respaced = await receiver.request(`/hooks/airtable/${SOURCE_ID}`, {
      method: 'POST',
      headers: { 'x-airtable-content-mac': good },
      body: body.replace(/,/g, ', '),
    });
    expect(respaced.status).toBe(401);
    const ok = await post({ 'x-airtable-content-mac': good });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('');
    await service.idle();
    const unknown = await receiver.request('/hooks/airtable/nope', {
      method: 'POST',
      headers: { 'x-airtable-content-mac': good },
      body,
    });
    expect(unknown.status).toBe(401);
  });

  it('coalesces a burst of pings into at most one more drain', async () => {
    await service.idle();
    const before = payloadReads;
    for (let i = 0; i < 5; i++) service.ping(SOURCE_ID);
    await service.idle();
    // Nothing new to read: one drain, plus one for the pings that came while it ran.
    expect(payloadReads - before).toBeGreaterThanOrEqual(1);
    expect(payloadReads - before).toBeLessThanOrEqual(2);
  });

  it('keeps a formula in a linked table in step with its input', async () => {
    const order = await linkedOrder();
    const productId = (order.fields[fieldId('Orders', 'Products')] as string[])[0];
    const price = Number((await recordById('Products', productId)).fields[fieldId('Products', 'Price')] ?? 0);
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Products', [
      { id: productId, fields: { Price: price + 10 } },
    ]);
    await settle();
    const truth = await recordById('Orders', order.id);
    const row = await mirrorRow('Orders', order.id);
    expect(Number(row?.total)).toBeCloseTo(Number(truth.fields[fieldId('Orders', 'Total')]), 6);
    expect(Number(row?.total)).not.toBeCloseTo(Number(order.fields[fieldId('Orders', 'Total')]), 6);
  });

  it('follows computed fields through links when payloads lack cells and only name the edited table', async () => {
    // A hook made before airmirror asked for every cell (no `unchanged`): the payload cannot be
    // trusted to describe the record, so it is fetched, and its dependents with it.
    const productsTable = h.tableId('Products');
    rewritePayloads = (page) => ({
      ...page,
      payloads: page.payloads.map((p) => ({
        ...p,
        changedTablesById: Object.fromEntries(
          Object.entries(p.changedTablesById ?? {})
            .filter(([tableId]) => tableId === productsTable)
            .map(([tableId, t]) => [
              tableId,
              {
                ...t,
                changedRecordsById: Object.fromEntries(
                  Object.entries(t.changedRecordsById ?? {}).map(([id, r]) => [id, { current: r.current }]),
                ),
              },
            ]),
        ),
      })),
    });
    try {
      const order = await linkedOrder();
      const productId = (order.fields[fieldId('Orders', 'Products')] as string[])[0];
      const price = Number(
        (await recordById('Products', productId)).fields[fieldId('Products', 'Price')] ?? 0,
      );
      h.emulator.control.updateRecords(DEMO_BASE_ID, 'Products', [
        { id: productId, fields: { Price: price + 25 } },
      ]);
      await settle();
      const truth = await recordById('Orders', order.id);
      const row = await mirrorRow('Orders', order.id);
      expect(Number(row?.catalog_total)).toBeCloseTo(
        Number(truth.fields[fieldId('Orders', 'Catalog Total')]),
        6,
      );
      expect(Number(row?.total)).toBeCloseTo(Number(truth.fields[fieldId('Orders', 'Total')]), 6);
    } finally {
      rewritePayloads = undefined;
    }
  });
});

describe('status of webhook tables', () => {
  it('shows the lag since the last payloads applied, not since the last sweep', async () => {
    const [customer] = await firstRecords('Customers', 1);
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Customers', [
      { id: customer.id, fields: { Name: 'Lag check' } },
    ]);
    await settle();
    // Payloads were just applied (the cursor moved, on the service's clock); the last sweep was two
    // hours before that.
    const hook = await t.db.query<{ at: Date }>(
      sql('SELECT last_payload_at AS at FROM airmirror.webhooks WHERE source_id = $1', [SOURCE_ID]),
    );
    const applied = hook.rows[0].at;
    await t.db.query(
      sql(`UPDATE airmirror.tables SET last_synced_at = $2 WHERE source_id = $1`, [
        SOURCE_ID,
        new Date(applied.getTime() - 7_200_000),
      ]),
    );
    const now = applied.getTime() + 5_000;
    const statuses = await tableStatuses(t.db, now, SOURCE_ID);
    expect(statuses.map((r) => r.lag_seconds)).toEqual(statuses.map(() => 5));
    const view = await t.db.query<{ fresh_at: Date }>(
      sql('SELECT fresh_at FROM airmirror.sync_status WHERE source_id = $1', [SOURCE_ID]),
    );
    for (const r of view.rows) expect(r.fresh_at.getTime()).toBe(applied.getTime());
    // A table of another sync type has only its sweeps: its lag is since the last one.
    await t.db.query(
      sql(`UPDATE airmirror.tables SET sync_type = 'full_refresh' WHERE table_id = $1`, [
        h.tableId('Orders'),
      ]),
    );
    try {
      const orders = (await tableStatuses(t.db, now, SOURCE_ID)).find((r) => r.table === 'Orders')!;
      expect(orders.lag_seconds).toBe(7205);
    } finally {
      await t.db.query(
        sql(`UPDATE airmirror.tables SET sync_type = 'webhook' WHERE table_id = $1`, [h.tableId('Orders')]),
      );
    }
  });

  it("shows their base webhook's health, and a failed webhook in the error column", async () => {
    const healthy = await tableStatuses(t.db, Date.now(), SOURCE_ID);
    expect(healthy.length).toBeGreaterThan(0);
    for (const r of healthy) {
      expect(r.sync_type).toBe('webhook');
      expect(r.webhook).toMatchObject({ status: 'active', last_error: null });
      expect(r.webhook!.last_ping_at).not.toBeNull(); // the pings above reached the receiver
    }
    expect(formatStatusTable(healthy)).not.toMatch(/webhook (active|failed|not registered)/);
    // What the service records when it cannot re-create a hook (saveProblem).
    await t.db.query(
      sql(
        `UPDATE airmirror.webhooks SET status = 'failed', last_error = 'quota exceeded' WHERE source_id = $1`,
        [SOURCE_ID],
      ),
    );
    try {
      const failing = await tableStatuses(t.db, Date.now(), SOURCE_ID);
      expect(failing[0].webhook).toMatchObject({ status: 'failed', last_error: 'quota exceeded' });
      expect(formatStatusTable(failing)).toContain('webhook failed: quota exceeded');
    } finally {
      await t.db.query(
        sql(`UPDATE airmirror.webhooks SET status = 'active', last_error = NULL WHERE source_id = $1`, [
          SOURCE_ID,
        ]),
      );
    }
  });
});

describe('rotation, expiry and removal', () => {
  it('rotates the secret: a new hook replaces the old one, the old MAC is refused, nothing is missed', async () => {
    const oldId = hooksAtAirtable()[0].id;
    const oldSecret = (await service.macSecret(SOURCE_ID))!;
    const [product] = await firstRecords('Products', 1);
    // A change the old hook holds when the rotation starts.
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Products', [
      { id: product.id, fields: { Name: 'Before rotation' } },
    ]);
    const res = await api.request(`/sources/${SOURCE_ID}/webhook/inputs`, { method: 'POST' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { webhook_id: string; cursor: number };
    expect(body.webhook_id).not.toBe(oldId);
    expect(body.cursor).toBe(1);
    expect(hooksAtAirtable().map((x) => x.id)).toEqual([body.webhook_id]);
    expect((await mirrorRow('Products', product.id))?.name).toBe('Before rotation');

    const newSecret = (await service.macSecret(SOURCE_ID))!;
    expect(newSecret).not.toBe(oldSecret);
    const ping = JSON.stringify({
      base: { id: DEMO_BASE_ID },
      webhook: { id: oldId },
      timestamp: '2026-01-01T00:00:00.000Z',
    });
    const withOld = await receiver.request(`/hooks/airtable/${SOURCE_ID}`, {
      method: 'POST',
      headers: { 'x-airtable-content-mac': await computeAirtableMac(oldSecret, ping) },
      body: ping,
    });
    expect(withOld.status).toBe(401);

    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Products', [
      { id: product.id, fields: { Name: 'After rotation' } },
    ]);
    await settle();
    expect((await mirrorRow('Products', product.id))?.name).toBe('After rotation');
  });

  it('refreshes the hook before it expires, on the emulator clock', async () => {
    const before = hooksAtAirtable()[0];
    h.clock.jump(5 * 24 * 60 * 60 * 1000); // 2 days left of 7
    await service.maintain();
    const after = hooksAtAirtable()[0];
    expect(after.id).toBe(before.id);
    expect(Date.parse(after.expirationTime!)).toBe(h.clock.now() + 7 * 24 * 60 * 60 * 1000);
    const info = (await (await api.request(`/sources/${SOURCE_ID}/webhook`)).json()) as {
      expiration_time: string;
      refreshed_at: string;
    };
    expect(Date.parse(info.expiration_time)).toBe(Date.parse(after.expirationTime!));
    expect(Date.parse(info.refreshed_at)).toBe(h.clock.now());
  });

  it('re-creates an expired hook and catches up with a sweep, and says so', async () => {
    const old = hooksAtAirtable()[0];
    const sweeps = await sweepRuns();
    h.clock.jump(8 * 24 * 60 * 60 * 1000); // past expiry: changes made now are never delivered
    const [product] = await firstRecords('Products', 1);
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Products', [
      { id: product.id, fields: { Name: 'While expired' } },
    ]);
    await service.maintain();
    const info = (await (await api.request(`/sources/${SOURCE_ID}/webhook`)).json()) as {
      webhook_id: string;
      recreated_count: number;
      last_error: string;
      status: string;
    };
    expect(info.webhook_id).not.toBe(old.id);
    expect(info.status).toBe('active');
    expect(info.recreated_count).toBe(1);
    expect(info.last_error).toMatch(/expired/);
    expect(await sweepRuns()).toBeGreaterThan(sweeps);
    expect((await mirrorRow('Products', product.id))?.name).toBe('While expired');
    const catchup = await t.db.query<{ n: string }>(
      sql('SELECT count(*)::text AS n FROM airmirror.tables WHERE source_id = $1 AND needs_catchup', [
        SOURCE_ID,
      ]),
    );
    expect(Number(catchup.rows[0].n)).toBe(0);
  });

  it('re-creates a hook whose payloads report INVALID_HOOK, and catches up', async () => {
    const old = hooksAtAirtable()[0];
    const sweeps = await sweepRuns();
    // docs/airtable-reference.md §4.7: an error payload means the hook is in a permanent error state.
    rewritePayloads = (page) => ({
      cursor: page.cursor + 1,
      mightHaveMore: false,
      payloads: [
        {
          timestamp: new Date(h.clock.now()).toISOString(),
          baseTransactionNumber: 1,
          payloadFormat: 'v0',
          actionMetadata: { source: 'system' },
          error: true,
          code: 'INVALID_HOOK',
        },
      ],
    });
    try {
      await service.drain(SOURCE_ID);
    } finally {
      rewritePayloads = undefined;
    }
    const info = (await (await api.request(`/sources/${SOURCE_ID}/webhook`)).json()) as {
      webhook_id: string;
      last_error: string;
    };
    expect(info.webhook_id).not.toBe(old.id);
    expect(info.last_error).toMatch(/INVALID_HOOK/);
    expect(hooksAtAirtable().map((x) => x.id)).toEqual([info.webhook_id]);
    expect(await sweepRuns()).toBeGreaterThan(sweeps);
  });

  it('refuses to unregister while tables use the webhook sync type, naming them', async () => {
    const res = await api.request(`/sources/${SOURCE_ID}/webhook`, { method: 'DELETE' });
    expect(res.status).toBe(409);
    const err = (await res.json()) as { code: string; tables: string[]; detail: string };
    expect(err.code).toBe('WEBHOOK_IN_USE');
    expect(err.tables.sort()).toEqual(['Customers', 'Orders', 'Products']);
    expect(err.detail).toContain('Orders');
    expect(hooksAtAirtable()).toHaveLength(1);

    await t.db.query(
      sql(`UPDATE airmirror.tables SET sync_type = 'full_refresh' WHERE source_id = $1`, [SOURCE_ID]),
    );
    expect((await api.request(`/sources/${SOURCE_ID}/webhook`, { method: 'DELETE' })).status).toBe(204);
    expect(hooksAtAirtable()).toHaveLength(0);
    expect((await api.request(`/sources/${SOURCE_ID}/webhook`)).status).toBe(404);
  });
});

async function firstRecords(table: string, n: number) {
  for await (const p of h.client.listAllRecords(DEMO_BASE_ID, h.tableId(table), { pageSize: n })) {
    return p.records.slice(0, n);
  }
  throw new Error(`no records in ${table}`);
}

async function recordById(table: string, id: string) {
  const [r] = await h.client.getRecordsByIds(DEMO_BASE_ID, h.tableId(table), [id]);
  return r;
}

function fieldId(table: string, name: string): string {
  return fieldIds.get(`${table}.${name}`)!;
}
const fieldIds = new Map<string, string>();
beforeAll(async () => {
  const s = await h.client.getBaseSchema(DEMO_BASE_ID);
  for (const tb of s.tables) for (const f of tb.fields) fieldIds.set(`${tb.name}.${f.name}`, f.id);
});

/** An order linked to at least one product, as Airtable has it now. */
async function linkedOrder() {
  for await (const page of h.client.listAllRecords(DEMO_BASE_ID, h.tableId('Orders'))) {
    const found = page.records.find(
      (r) =>
        Array.isArray(r.fields[fieldId('Orders', 'Products')]) &&
        Number(r.fields[fieldId('Orders', 'Quantity')] ?? 0) > 0,
    );
    if (found) return found;
  }
  throw new Error('no order with products');
}
