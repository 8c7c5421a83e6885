import { describe, expect, it } from 'vitest';
import { createEmulator, DEMO_BASE_ID as B, EMULATOR_TOKEN } from '../index.ts';
import { MESSAGES } from '../errors.ts';
import { call, T0, useEmulator } from './helpers.ts';

/**
 * docs/airtable-reference.md §2.1 ("monthly call quota"): calls counted per workspace (here: per
 * token) and calendar month; once spent, every data call answers 429
 * PUBLIC_API_BILLING_LIMIT_EXCEEDED until the month resets, while `/v0/meta/*` still answers.
 */
const OTHER = 'patOther000000001.' + 'f'.repeat(64);
let now = T0; // 2025-06-01T12:00Z
const emulator = useEmulator({ now: () => now, tokens: [EMULATOR_TOKEN, OTHER] });

describe('the monthly call quota', () => {
  it('counts answered calls, then answers every data call 429 billing until the month resets', async () => {
    emulator.control.setMonthlyQuota(3, { token: EMULATOR_TOKEN });
    for (let i = 0; i < 3; i++) expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(200);
    expect(emulator.control.monthlyQuota(EMULATOR_TOKEN)).toEqual({
      calls: 3,
      used: 3,
      resetsAt: '2025-07-01T00:00:00.000Z',
    });

    const spent = await call('GET', `/${B}/Orders?pageSize=1`);
    expect(spent.status).toBe(429);
    expect(spent.body).toEqual({
      error: { type: 'PUBLIC_API_BILLING_LIMIT_EXCEEDED', message: MESSAGES.billing },
    });
    expect(spent.body.error.message).toMatch(/^API billing plan limit exceeded/);
    // Writes and webhooks are data calls too.
    expect((await call('POST', `/${B}/Orders`, { fields: { Order: 'x' } })).status).toBe(429);
    expect((await call('GET', `/bases/${B}/webhooks`)).status).toBe(429);
    // The schema still answers (the one report in §2.1); refused calls are not counted.
    expect((await call('GET', `/meta/bases/${B}/tables`)).status).toBe(200);
    expect(emulator.control.monthlyQuota(EMULATOR_TOKEN).used).toBe(4);

    // Another token (another workspace) has its own count: no quota set for it.
    expect(
      (await call('GET', `/${B}/Orders?pageSize=1`, undefined, { authorization: `Bearer ${OTHER}` })).status,
    ).toBe(200);

    // Later in the month: still spent. The next month: answered again, counted from zero.
    now = Date.parse('2025-06-30T23:59:59.000Z');
    expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(429);
    now = Date.parse('2025-07-01T00:00:00.000Z');
    expect((await call('GET', `/${B}/Orders?pageSize=1`)).status).toBe(200);
    expect(emulator.control.monthlyQuota(EMULATOR_TOKEN)).toMatchObject({ calls: 3, used: 1 });
    emulator.control.setMonthlyQuota(false, { token: EMULATOR_TOKEN });
  });

  it('a quota for every token, preset usage, and the HTTP control surface', async () => {
    const emu = createEmulator({ monthlyQuota: 1000, now: () => T0 });
    const req = (path: string, init?: RequestInit) =>
      emu.app.fetch(new Request(`https://api.airtable.com${path}`, init));
    const post = (path: string, body: unknown) =>
      req(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // 999 of 1,000 used this month: one more call, then the billing 429.
    expect(
      (await post('/__emulator/monthly-quota', { calls: 1000, token: EMULATOR_TOKEN, used: 999 })).status,
    ).toBe(200);
    const get = () =>
      req(`/v0/${B}/Orders?pageSize=1`, { headers: { authorization: `Bearer ${EMULATOR_TOKEN}` } });
    expect((await get()).status).toBe(200);
    const refused = await get();
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { type: string } }).error.type).toBe(
      'PUBLIC_API_BILLING_LIMIT_EXCEEDED',
    );
    const usage = await (await req(`/__emulator/monthly-quota?token=${EMULATOR_TOKEN}`)).json();
    expect(usage).toEqual({ calls: 1000, used: 1000, resetsAt: '2025-07-01T00:00:00.000Z' });
    // Off again: answered.
    expect((await post('/__emulator/monthly-quota', { calls: 'off', token: EMULATOR_TOKEN })).status).toBe(
      200,
    );
    expect((await post('/__emulator/monthly-quota', { calls: 'off' })).status).toBe(200);
    expect((await get()).status).toBe(200);
    expect((await post('/__emulator/monthly-quota', { calls: -1 })).status).toBe(422);
  });
});
