import { describe, expect, it } from 'vitest';
import { DEMO_BASE_ID, DEMO_TABLES, EMULATOR_TOKEN } from '../index.ts';
import { useEmulator, type Json } from './helpers.ts';

const emulator = useEmulator();
const API = 'https://api.airtable.com/v0';
const auth = { authorization: `Bearer ${EMULATOR_TOKEN}` };

async function getJson(path: string, headers: Record<string, string> = auth) {
  const res = await fetch(API + path, { headers });
  return { status: res.status, body: (await res.json()) as Json };
}

describe('emulator through msw (in-process)', () => {
  it('serves the demo base schema with every table and primary field', async () => {
    const { status, body } = await getJson(`/meta/bases/${DEMO_BASE_ID}/tables`);
    expect(status).toBe(200);
    const names = body.tables.map((t: { name: string }) => t.name);
    expect(names).toEqual([DEMO_TABLES.customers, DEMO_TABLES.products, DEMO_TABLES.orders]);
    for (const t of body.tables) {
      expect(t.id).toMatch(/^tbl[A-Za-z0-9]{14}$/);
      expect(t.fields.some((f: { id: string }) => f.id === t.primaryFieldId)).toBe(true);
    }
  });

  it('lists records and gets one by id', async () => {
    const list = await getJson(`/${DEMO_BASE_ID}/${DEMO_TABLES.customers}?pageSize=3`);
    expect(list.status).toBe(200);
    expect(list.body.records).toHaveLength(3);
    expect(list.body.offset).toMatch(/^itr[A-Za-z0-9]{14}\/rec[A-Za-z0-9]{14}$/);
    const first = list.body.records[0];
    const one = await getJson(`/${DEMO_BASE_ID}/${DEMO_TABLES.customers}/${first.id}`);
    expect(one.body).toEqual(first);
  });

  it('is the same store the test can inspect', () => {
    expect(emulator.store.requireTable(DEMO_BASE_ID, 'Orders').table.size).toBe(40);
  });

  it('answers 401 without a bearer token', async () => {
    const { status, body } = await getJson(`/${DEMO_BASE_ID}/Orders`, {});
    expect(status).toBe(401);
    expect(body.error.type).toBe('AUTHENTICATION_REQUIRED');
  });

  it('mounts the webhooks routes behind auth and the per-base rate limit', async () => {
    const unauth = await fetch(`${API}/bases/${DEMO_BASE_ID}/webhooks`);
    expect(unauth.status).toBe(401);
    const created = await fetch(`${API}/bases/${DEMO_BASE_ID}/webhooks`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ specification: { options: { filters: { dataTypes: ['tableData'] } } } }),
    });
    expect(created.status).toBe(200);
    const hook = (await created.json()) as Json;
    expect(hook.id).toMatch(/^ach[A-Za-z0-9]{14}$/);
    const listed = await getJson(`/bases/${DEMO_BASE_ID}/webhooks`);
    expect(listed.body.webhooks.map((w: { id: string }) => w.id)).toEqual([hook.id]);
    emulator.control.setRateLimit(1);
    try {
      expect((await getJson(`/bases/${DEMO_BASE_ID}/webhooks`)).status).toBe(200);
      expect((await getJson(`/bases/${DEMO_BASE_ID}/webhooks`)).status).toBe(429);
    } finally {
      emulator.control.setRateLimit(false);
    }
  });
});
