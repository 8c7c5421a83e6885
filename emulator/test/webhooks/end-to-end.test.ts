import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN, type Emulator } from '../../index.ts';
import { startEmulatorServer, type EmulatorServer } from '../../server.ts';
import type { AirtableTable, ListPayloadsResponse } from '../../types.ts';
import { expectedMac } from '../helpers.ts';

interface Received {
  body: string;
  mac: string | null;
}

/** A webhook receiver over real HTTP, answering 204 with an empty body (docs/airtable-reference.md §4.4). */
function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const app = new Hono();
  app.post('/ping', async (c) => {
    received.push({ body: await c.req.text(), mac: c.req.header('x-airtable-content-mac') ?? null });
    return c.body(null, 204);
  });
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve({
        url: `http://127.0.0.1:${info.port}/ping`,
        received,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    );
  });
}

describe('emulator webhooks end to end over HTTP (createEmulator + a local receiver)', () => {
  let emulator: Emulator;
  let server: EmulatorServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    // A fixed clock: only advanceClock moves emulator time.
    emulator = createEmulator({
      seed: 'demo',
      records: 5,
      now: () => Date.parse('2024-03-01T00:00:00.000Z'),
    });
    server = await startEmulatorServer(emulator);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await emulator.webhooks.stop();
    await server.close();
    await receiver.close();
  });

  it('create → UI edit → signed ping → list payloads has the change, computed recalcs included', async () => {
    const { tables } = (await call('GET', `/v0/meta/bases/${DEMO_BASE_ID}/tables`)).json as {
      tables: AirtableTable[];
    };
    const orders = tables.find((t) => t.name === 'Orders')!;
    const fieldId = (name: string) => orders.fields.find((f) => f.name === name)!.id;
    const status = orders.fields.find((f) => f.name === 'Status')!;
    const choices = status.options!.choices as Array<{ id: string; name: string; color?: string }>;

    const created = await call('POST', `/v0/bases/${DEMO_BASE_ID}/webhooks`, {
      notificationUrl: receiver.url,
      specification: {
        options: {
          filters: { dataTypes: ['tableData'], recordChangeScope: orders.id },
          includes: { includePreviousCellValues: true },
        },
      },
    });
    expect(created.status).toBe(200);
    const hook = created.json as { id: string; macSecretBase64: string };

    const products = (await call('GET', `/v0/${DEMO_BASE_ID}/Products?maxRecords=1`)).json.records;
    const [before] = emulator.control.createRecords(DEMO_BASE_ID, 'Orders', [
      { fields: { Order: 'E2E-1', Status: 'New', Quantity: 1, Products: [products[0].id] } },
    ]);
    emulator.control.advanceClock(60_000);
    emulator.control.updateRecords(DEMO_BASE_ID, 'Orders', [
      { id: before.id, fields: { Status: 'Shipped', Quantity: 3 } },
    ]);
    await emulator.webhooks.flush();

    expect(receiver.received).toHaveLength(1); // the burst of two edits is one ping
    const ping = receiver.received[0];
    expect(JSON.parse(ping.body)).toMatchObject({ base: { id: DEMO_BASE_ID }, webhook: { id: hook.id } });
    expect(ping.mac).toBe(expectedMac(hook.macSecretBase64, ping.body));

    const page = (await call('GET', `/v0/bases/${DEMO_BASE_ID}/webhooks/${hook.id}/payloads`))
      .json as ListPayloadsResponse;
    expect(page).toMatchObject({ cursor: 3, mightHaveMore: false });
    const createdRec = page.payloads[0].changedTablesById![orders.id].createdRecordsById![before.id];
    expect(createdRec.cellValuesByFieldId[fieldId('Order')]).toBe('E2E-1');
    const change = page.payloads[1].changedTablesById![orders.id].changedRecordsById![before.id];
    const shipped = choices.find((c) => c.name === 'Shipped')!;
    const fresh = choices.find((c) => c.name === 'New')!;
    expect(change.current.cellValuesByFieldId[status.id]).toEqual(shipped);
    expect(change.previous!.cellValuesByFieldId[status.id]).toEqual(fresh);
    expect(change.current.cellValuesByFieldId[fieldId('Quantity')]).toBe(3);
    expect(change.previous!.cellValuesByFieldId[fieldId('Quantity')]).toBe(1);
    // Computed changes are delivered too (docs/airtable-reference.md §4.7): the Total formula and the
    // lastModifiedTime field moved with the edit a minute later.
    expect(Object.keys(change.current.cellValuesByFieldId).sort()).toEqual(
      [status.id, fieldId('Quantity'), fieldId('Total'), fieldId('Status Changed')].sort(),
    );
    expect(change.current.cellValuesByFieldId[fieldId('Status Changed')]).toBe('2024-03-01T00:01:00.000Z');
    expect(page.payloads[1].actionMetadata.source).toBe('client');

    const list = await call('GET', `/v0/bases/${DEMO_BASE_ID}/webhooks`);
    expect(list.json.webhooks[0]).toMatchObject({
      id: hook.id,
      cursorForNextPayload: 3,
      isHookEnabled: true,
    });
    expect(list.json.webhooks[0].lastNotificationResult).toMatchObject({ success: true });
    expect(JSON.stringify(list.json)).not.toContain(hook.macSecretBase64);
  });

  it('requires the token like every other endpoint', async () => {
    const res = await fetch(`${server.url}/v0/bases/${DEMO_BASE_ID}/webhooks`);
    expect(res.status).toBe(401);
  });
});
