import Airtable from 'airtable';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, DEMO_BASE_ID as B, EMULATOR_TOKEN } from '../index.ts';
import { startEmulatorServer, type EmulatorServer } from '../server.ts';
import { T0, type Json } from './helpers.ts';

// The official client against the emulator over real HTTP (docs/airtable-reference.md §0: ajs v0.12.2).
let now = T0;
const emulator = createEmulator({ records: 2_000, now: () => now });
const big = createEmulator({ records: 100_000 });
let server: EmulatorServer;
let bigServer: EmulatorServer;
let base: Airtable.Base;

beforeAll(async () => {
  server = await startEmulatorServer(emulator);
  bigServer = await startEmulatorServer(big);
  base = new Airtable({ apiKey: EMULATOR_TOKEN, endpointUrl: server.url, noRetryIfRateLimited: true }).base(
    B,
  );
});
afterAll(async () => {
  await server.close();
  await bigServer.close();
});

describe('airtable.js conformance', () => {
  it('pages through a 100k-record table (first pages) with select().eachPage', async () => {
    const bigBase = new Airtable({ apiKey: EMULATOR_TOKEN, endpointUrl: bigServer.url }).base(B);
    let seen = 0;
    let pages = 0;
    await bigBase('Orders')
      .select({ pageSize: 100, maxRecords: 500, fields: ['Order'] })
      .eachPage((records, next) => {
        seen += records.length;
        pages++;
        next();
      });
    expect(pages).toBe(5);
    expect(seen).toBe(500);
    expect(big.store.requireTable(B, 'Orders').table.size).toBe(100_000);
  });

  it('all() follows every offset to the end (filtered)', async () => {
    const records = await base('Orders')
      .select({ filterByFormula: `{Order} <= 'ORD-0000250'`, sort: [{ field: 'Order', direction: 'desc' }] })
      .all();
    expect(records).toHaveLength(250);
    expect(records[0].get('Order')).toBe('ORD-0000250');
    expect(records[249].get('Order')).toBe('ORD-0000001');
  });

  it('create (single and batch), find, update (PATCH), replace (PUT), destroy', async () => {
    const one = await base('Customers').create({ Name: 'AJS One', Email: 'one@example.com', Active: true });
    expect(one.id).toMatch(/^rec/);
    const many = await base('Customers').create([
      { fields: { Name: 'AJS Two' } },
      { fields: { Name: 'AJS Three' } },
    ]);
    expect(many.map((r) => r.get('Name'))).toEqual(['AJS Two', 'AJS Three']);
    const found = await base('Customers').find(one.id);
    expect(found.get('Email')).toBe('one@example.com');
    const [patched] = await base('Customers').update([
      { id: one.id, fields: { Email: 'patched@example.com' } },
    ]);
    expect(patched.get('Active')).toBe(true);
    const [replaced] = await base('Customers').replace([{ id: one.id, fields: { Name: 'AJS One!' } }]);
    expect(replaced.get('Email')).toBeUndefined();
    expect(replaced.get('Active')).toBeUndefined();
    const destroyed = await base('Customers').destroy([many[0].id, many[1].id]);
    expect(destroyed.map((r) => r.id)).toEqual([many[0].id, many[1].id]);
    await expect(base('Customers').find(many[0].id)).rejects.toMatchObject({
      statusCode: 404,
      error: 'NOT_FOUND',
    });
  });

  it('upsert through update(..., {performUpsert})', async () => {
    // ajs 0.12's typings predate performUpsert; the call shape is what it sends at run time.
    const upsert = base('Customers').update as unknown as (
      records: unknown[],
      opts: unknown,
    ) => Promise<Airtable.Records<Airtable.FieldSet>>;
    const records = await upsert.call(
      base('Customers'),
      [{ fields: { Email: 'upsert-ajs@example.com', Name: 'Upsert' } }],
      { performUpsert: { fieldsToMergeOn: ['Email'] } },
    );
    expect(records[0].get('Name')).toBe('Upsert');
    const again = await upsert.call(
      base('Customers'),
      [{ fields: { Email: 'upsert-ajs@example.com', Name: 'Upsert 2' } }],
      { performUpsert: { fieldsToMergeOn: ['Email'] } },
    );
    expect(again[0].id).toBe(records[0].id);
  });

  it('maps emulator errors like Airtable errors', async () => {
    await expect(base('Nope').select().firstPage()).rejects.toMatchObject({
      // ajs names every 403 NOT_AUTHORIZED itself (docs/airtable-reference.md §2.5)
      statusCode: 403,
      error: 'NOT_AUTHORIZED',
    });
    await expect(base('Customers').create({ Nmae: 'x' })).rejects.toMatchObject({
      statusCode: 422,
      error: 'UNKNOWN_FIELD_NAME',
      message: 'Unknown field name: "Nmae"',
    });
    const bad = new Airtable({ apiKey: 'patWrong', endpointUrl: server.url }).base(B);
    await expect(bad('Orders').select().firstPage()).rejects.toMatchObject({ statusCode: 401 });
  });

  it('switches to POST listRecords for long formulas and still gets every match', async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `{Order}='ORD-${String(i + 1).padStart(7, '0')}'`);
    const query = () =>
      base('Orders')
        .select({ filterByFormula: `OR(${ids.join(',')})`, fields: ['Order'] })
        .all();
    // Proof that the client used POST …/listRecords: a fault that only matches that route hits it.
    emulator.control.fail({ kind: 'status', status: 503, match: { method: 'POST', path: '/listRecords' } });
    await expect(query()).rejects.toMatchObject({ statusCode: 503 });
    expect(await query()).toHaveLength(500);
  });

  it('a 429 reaches the client and clears after the penalty on the emulator clock', async () => {
    emulator.control.setRateLimit(5);
    try {
      for (let i = 0; i < 5; i++) await base('Products').select({ maxRecords: 1 }).firstPage();
      await expect(base('Products').select({ maxRecords: 1 }).firstPage()).rejects.toMatchObject({
        statusCode: 429,
      });
      now += 30_001;
      expect(await base('Products').select({ maxRecords: 1 }).firstPage()).toHaveLength(1);
    } finally {
      emulator.control.setRateLimit(false);
    }
  });

  it('control surface over HTTP: faults, clock, records as the UI', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}/__emulator${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('/faults', { kind: 'status', status: 500, count: 1 })).status).toBe(200);
    const failing = await fetch(`${server.url}/v0/${B}/Orders?pageSize=1`, {
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}` },
    });
    expect(failing.status).toBe(500);
    const before = ((await (await fetch(`${server.url}/__emulator/clock`)).json()) as Json).now;
    await post('/clock/advance', { ms: 1234 });
    expect(((await (await fetch(`${server.url}/__emulator/clock`)).json()) as Json).now).toBe(before + 1234);
    const made = (await (
      await post(`/bases/${B}/tables/Customers/records`, { records: [{ fields: { Name: 'From UI' } }] })
    ).json()) as Json;
    expect(made.records[0].fields.Name).toBe('From UI');
    expect((await base('Customers').find(made.records[0].id)).get('Name')).toBe('From UI');
  });
});
