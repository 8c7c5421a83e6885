import { describe, expect, it } from 'vitest';
import { DEMO_BASE_ID as B, EMULATOR_TOKEN } from '../index.ts';
import { MESSAGES } from '../errors.ts';
import { API, AUTH, call, T0, useEmulator, type Json } from './helpers.ts';

let now = T0;
const emulator = useEmulator({ now: () => now });

describe('auth (docs/airtable-reference.md §2.3, §2.5)', () => {
  it('no header or a garbled one: 401 AUTHENTICATION_REQUIRED', async () => {
    for (const headers of [{}, { authorization: EMULATOR_TOKEN }, { authorization: 'Basic abc' }] as Array<
      Record<string, string>
    >) {
      const r = await call('GET', `/${B}/Orders`, undefined, headers);
      expect(r.status).toBe(401);
      expect(r.body.error.type).toBe('AUTHENTICATION_REQUIRED');
    }
  });

  it('an unknown token: 401 UNAUTHORIZED', async () => {
    const r = await call('GET', `/${B}/Orders`, undefined, { authorization: 'Bearer patNope' });
    expect(r.status).toBe(401);
    expect(r.body.error.type).toBe('UNAUTHORIZED');
  });
});

describe('not found (docs/airtable-reference.md §2.4)', () => {
  it('unknown base or table: 403 with the documented message', async () => {
    const expected = {
      error: { type: 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', message: MESSAGES.modelNotFound },
    };
    expect((await call('GET', `/appNope0000000000/Orders`)).body).toEqual(expected);
    const t = await call('GET', `/${B}/Nope`);
    expect(t.status).toBe(403);
    expect(t.body).toEqual(expected);
    expect((await call('GET', `/meta/bases/appNope0000000000/tables`)).status).toBe(403);
  });

  it('unknown route: 404 with the bare string form', async () => {
    const r = await call('GET', `/meta/nothing/here/at/all`);
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: 'NOT_FOUND' });
    expect((await call('GET', `/meta/nope`)).body).toEqual({ error: 'NOT_FOUND' });
  });

  it('unknown record id: 404 with the object form', async () => {
    const r = await call('GET', `/${B}/Orders/recNope0000000000`);
    expect(r.status).toBe(404);
    expect(r.body.error.type).toBe('NOT_FOUND');
  });

  it('get-by-id falls back to a base-wide lookup (docs/airtable-reference.md §1.2)', async () => {
    const customer = emulator.store.requireTable(B, 'Customers').table.iterate().next().value!;
    const r = await call('GET', `/${B}/Orders/${customer.id}`);
    expect(r.status).toBe(200);
    expect(r.body.fields.Name).toBe(
      customer.cells[emulator.store.requireTable(B, 'Customers').table.field('Name')!.id],
    );
  });
});

describe('rate limit (docs/airtable-reference.md §2.1)', () => {
  it('the 6th request within a second is 429, and every request for 30 s after', async () => {
    emulator.control.setRateLimit(5);
    try {
      for (let i = 0; i < 5; i++) expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(200);
      const limited = await call('GET', `/${B}/Orders?pageSize=1`);
      expect(limited.status).toBe(429);
      expect(limited.body).toEqual({
        error: { type: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' },
      });
      now += 29_000;
      expect((await call('GET', `/meta/bases/${B}/tables`)).status).toBe(429);
      // other endpoints that are not per base are not limited
      expect((await call('GET', `/meta/bases`)).status).toBe(200);
      now += 1_001;
      expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(200);
    } finally {
      emulator.control.setRateLimit(false);
    }
  });

  it('spreads of ≤ 5 requests per second are never limited', async () => {
    emulator.control.setRateLimit(5);
    try {
      for (let i = 0; i < 20; i++) {
        if (i % 5 === 0) now += 1_000;
        expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(200);
      }
    } finally {
      emulator.control.setRateLimit(false);
    }
  });
});

describe('faults on demand', () => {
  it('the next N requests fail with the given status, then service resumes', async () => {
    emulator.control.fail({ kind: 'status', status: 503, count: 2, retryAfterSeconds: 1 });
    const a = await fetch(`${API}/${B}/Orders?pageSize=1`, { headers: AUTH });
    expect(a.status).toBe(503);
    expect(a.headers.get('retry-after')).toBe('1');
    expect(((await a.json()) as Json).error.type).toBe('RETRIABLE_ERROR');
    expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(503);
    expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(200);
    emulator.control.fail({ kind: 'status', status: 502 });
    const bad = await call('GET', `/${B}/Orders?pageSize=1`);
    expect(bad.status).toBe(502);
    expect(typeof bad.body).toBe('string');
    emulator.control.fail({ kind: 'status', status: 429, billing: true });
    const billing = await call('GET', `/${B}/Orders?pageSize=1`);
    expect(billing.status).toBe(429);
    expect(billing.body.error.type).toBe('PUBLIC_API_BILLING_LIMIT_EXCEEDED');
    expect(billing.body.error.message).toMatch(/^API billing plan limit exceeded/);
    emulator.control.fail({ kind: 'status', status: 500, match: { method: 'POST' } });
    expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(200);
    expect((await call('POST', `/${B}/Orders`, { fields: { Order: 'x' } })).status).toBe(500);
  });

  it('a hung request never answers until the client aborts', async () => {
    emulator.control.fail({ kind: 'hang' });
    const ac = new AbortController();
    const pending = fetch(`${API}/${B}/Orders?pageSize=1`, { headers: AUTH, signal: ac.signal });
    let settled = false;
    void pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    ac.abort();
    await expect(pending).rejects.toThrow();
    expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(200);
  });

  it('a truncated body breaks JSON parsing mid-stream', async () => {
    emulator.control.fail({ kind: 'truncate' });
    const res = await fetch(`${API}/${B}/Orders?pageSize=1`, { headers: AUTH });
    expect(res.status).toBe(200);
    await expect(res.json()).rejects.toThrow();
  });
});
