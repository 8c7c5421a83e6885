import { beforeEach, describe, expect, it } from 'vitest';
import { createEmulator, DEMO_BASE_ID as B, EMULATOR_TOKEN } from '../index.ts';
import { API, AUTH, call, T0, useEmulator } from './helpers.ts';

let now = T0;
const emulator = useEmulator({ now: () => now });
const { control } = emulator;

/** Polls `ok` every 5 ms (the request crosses msw asynchronously); fails after 5 s. */
async function until(ok: () => boolean): Promise<void> {
  for (const started = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() - started > 5000) throw new Error('condition not met within 5 s');
  }
}

beforeEach(() => {
  now = T0;
  control.setRateLimit(false);
  control.clearCalls();
});

describe('the call log', () => {
  it('records every API call: method, path, base, status and arrival on the emulator clock', async () => {
    await call('GET', `/${B}/Orders?pageSize=2`);
    now += 1500;
    await call('PATCH', `/${B}/Orders`, { records: [{ id: 'recNope0000000000', fields: {} }] });
    await call('GET', '/meta/bases');
    await call('GET', `/meta/bases/${B}/tables`);
    await call('GET', `/${B}/Orders`, undefined, {}); // no token
    expect(control.calls()).toEqual([
      { method: 'GET', path: `/v0/${B}/Orders`, baseId: B, status: 200, at: T0 },
      { method: 'PATCH', path: `/v0/${B}/Orders`, baseId: B, status: 422, at: T0 + 1500 },
      { method: 'GET', path: '/v0/meta/bases', baseId: null, status: 200, at: T0 + 1500 },
      { method: 'GET', path: `/v0/meta/bases/${B}/tables`, baseId: B, status: 200, at: T0 + 1500 },
      { method: 'GET', path: `/v0/${B}/Orders`, baseId: B, status: 401, at: T0 + 1500 },
    ]);
    expect(control.droppedCalls()).toBe(0);
  });

  it('counts injected faults, 429s of the rate limit and webhook calls; not the control routes', async () => {
    control.fail({ kind: 'status', status: 503 });
    await call('GET', `/${B}/Orders`);
    control.setRateLimit(1);
    await call('GET', `/${B}/Orders`);
    await call('GET', `/${B}/Orders`);
    control.setRateLimit(false);
    await call('GET', `/bases/${B}/webhooks`);
    await fetch('https://api.airtable.com/__emulator/clock');
    expect(control.calls().map((c) => [c.method, c.path, c.status])).toEqual([
      ['GET', `/v0/${B}/Orders`, 503],
      ['GET', `/v0/${B}/Orders`, 200],
      ['GET', `/v0/${B}/Orders`, 429],
      ['GET', `/v0/bases/${B}/webhooks`, 200],
    ]);
  });

  it('filters by method, path substring and base; returns copies', async () => {
    await call('GET', `/${B}/Orders`);
    await call('POST', `/${B}/Customers`, { records: [{ fields: { Name: 'Ada' } }] });
    await call('GET', '/meta/bases');
    expect(control.calls({ method: 'post' }).map((c) => c.path)).toEqual([`/v0/${B}/Customers`]);
    expect(control.calls({ path: 'Orders' })).toHaveLength(1);
    expect(control.calls({ baseId: B })).toHaveLength(2);
    expect(control.calls({ baseId: B, method: 'GET' })).toHaveLength(1);
    control.calls()[0].status = 999;
    expect(control.calls()[0].status).toBe(200);
  });

  it('shows a call still in flight with status null (a hang fault), then its answer', async () => {
    control.fail({ kind: 'hang' });
    const ac = new AbortController();
    const pending = fetch(`${API}/${B}/Orders`, { headers: AUTH, signal: ac.signal }).catch(() => undefined);
    await until(() => control.calls().length === 1);
    expect(control.calls().map((c) => c.status)).toEqual([null]);
    ac.abort();
    await pending;
    await until(() => control.calls()[0].status !== null);
    expect(control.calls().map((c) => c.status)).toEqual([504]);
  });

  it('is served under /__emulator/calls (GET with filters, DELETE clears)', async () => {
    await call('GET', `/${B}/Orders`);
    await call('GET', '/meta/bases');
    const control = 'https://api.airtable.com/__emulator/calls';
    const all = await (await fetch(control)).json();
    expect(all).toEqual({
      calls: [
        { method: 'GET', path: `/v0/${B}/Orders`, baseId: B, status: 200, at: T0 },
        { method: 'GET', path: '/v0/meta/bases', baseId: null, status: 200, at: T0 },
      ],
      dropped: 0,
    });
    const filtered = await (await fetch(`${control}?method=get&base=${B}&path=Orders`)).json();
    expect(filtered.calls).toHaveLength(1);
    expect((await fetch(control, { method: 'DELETE' })).status).toBe(200);
    expect(await (await fetch(control)).json()).toEqual({ calls: [], dropped: 0 });
  });

  it('is bounded: past callLogLimit the oldest calls are dropped and counted', async () => {
    const small = createEmulator({ callLogLimit: 3 });
    for (const table of ['Orders', 'Customers', 'Products', 'Orders', 'Customers']) {
      const res = await small.app.fetch(
        new Request(`${API}/${B}/${table}?pageSize=1`, {
          headers: { authorization: `Bearer ${EMULATOR_TOKEN}` },
        }),
      );
      expect(res.status).toBe(200);
    }
    expect(small.control.calls().map((c) => c.path)).toEqual([
      `/v0/${B}/Products`,
      `/v0/${B}/Orders`,
      `/v0/${B}/Customers`,
    ]);
    expect(small.control.droppedCalls()).toBe(2);
    small.control.clearCalls();
    expect(small.control.calls()).toEqual([]);
    expect(small.control.droppedCalls()).toBe(0);
  });
});
