import { beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { tokenKeyOf } from '../../src/airtable/token-key.ts';
import { ensureSourcesFromConfig, updateSourceSettings } from '../../src/bookkeeping/sources.ts';
import { AirmirrorError } from '../../src/errors.ts';
import { createQuotaService, quotaGatedFetch } from '../../src/quota/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/**
 * Issue 17: Airtable's billing 429 (docs/airtable-reference.md §2.1) is never retried; it pauses
 * airmirror's background calls for that token until the month resets, refused before they reach
 * Airtable, and the quota says so with the date.
 */
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await ensureSourcesFromConfig(t.db, {
    bases: [{ baseId: DEMO_BASE_ID, schema: 'billing' }],
    airtableToken: EMULATOR_TOKEN,
  });
});

describe('the billing 429', () => {
  it('is not retried, pauses background work until the month resets, and says so', async () => {
    const now = Date.UTC(2026, 4, 17, 12);
    const emulator = createEmulator({ now: () => now });
    const quota = createQuotaService({
      db: t.db,
      now: () => now,
      defaultBudget: 100_000,
      appShare: 0.2,
      sourceTokenKey: async () => tokenKeyOf(EMULATOR_TOKEN),
    });
    const client = createAirtableClient({
      apiUrl: 'https://api.airtable.com',
      token: EMULATOR_TOKEN,
      fetch: quotaGatedFetch(
        (input, init) => Promise.resolve(emulator.app.fetch(new Request(input, init))),
        quota,
      ),
      budget: createRateBudget({ perSecond: 100 }),
    });
    // The workspace's monthly quota is spent (the emulator's quota, docs/airtable-reference.md §2.1).
    emulator.control.setMonthlyQuota(100_000, { token: EMULATOR_TOKEN, used: 100_000 });
    const first = await client
      .listRecordsPage(DEMO_BASE_ID, 'Orders', { pageSize: 1 })
      .catch((e: unknown) => e);
    expect(first).toBeInstanceOf(AirmirrorError);
    expect((first as AirmirrorError).code).toBe('PUBLIC_API_BILLING_LIMIT_EXCEEDED');
    expect(emulator.control.calls()).toHaveLength(1); // no retry
    expect(emulator.control.calls()[0].status).toBe(429);

    const state = await quota.forSource(DEMO_BASE_ID);
    expect(state).toMatchObject({ paused: 'billing', resumesAt: Date.UTC(2026, 5, 1) });

    // The next background call is refused here, unsent, naming the date work resumes.
    const second = await client
      .listRecordsPage(DEMO_BASE_ID, 'Orders', { pageSize: 1 })
      .catch((e: unknown) => e);
    expect((second as AirmirrorError).code).toBe('PUBLIC_API_BILLING_LIMIT_EXCEEDED');
    expect((second as AirmirrorError).message).toContain('2026-06-01T00:00:00.000Z');
    expect(emulator.control.calls()).toHaveLength(1);
  });

  it('a source window follows max_lag_seconds and widens when the projection passes the budget', async () => {
    const now = Date.UTC(2026, 5, 16);
    const counts = new Map<string, number>();
    const quota = createQuotaService({
      db: t.db,
      now: () => now,
      defaultBudget: 100_000,
      appShare: 0.2,
      refreshMs: 0,
      sourceTokenKey: async () => 'k',
      callsByToken: async () => counts,
    });
    // The source's freshness target, as PATCH /api/sources/{id} sets it.
    expect(await updateSourceSettings(t.db, DEMO_BASE_ID, { maxLagSeconds: 60 })).toMatchObject({
      maxLagSeconds: 60,
    });
    expect(await quota.drainWindowMs(DEMO_BASE_ID)).toBe(55_000);
    // Half of June gone, 60,000 calls: 120,000 projected against 80,000 for background work.
    counts.set('k', 60_000);
    const state = await quota.forSource(DEMO_BASE_ID);
    expect(state).toMatchObject({ projection: 120_000, backgroundLimit: 80_000, spacing: 1.5, paused: null });
    expect(await quota.drainWindowMs(DEMO_BASE_ID)).toBe(82_500);
    // Background's part spent: paused until the reset, the rest left to the apps.
    counts.set('k', 80_000);
    expect(await quota.forSource(DEMO_BASE_ID)).toMatchObject({
      paused: 'apps_share',
      resumesAt: Date.UTC(2026, 6, 1),
    });
  });

  it("background work alone never spends the apps' share: refused unsent, while the apps' calls go through", async () => {
    const now = Date.UTC(2026, 7, 20);
    const emulator = createEmulator({ now: () => now });
    const counts = new Map([[tokenKeyOf(EMULATOR_TOKEN), 0]]);
    const quota = createQuotaService({
      db: t.db,
      now: () => now,
      defaultBudget: 1000,
      appShare: 0.2,
      refreshMs: 0,
      sourceTokenKey: async () => tokenKeyOf(EMULATOR_TOKEN),
      callsByToken: async () => counts,
    });
    const emulatorFetch: typeof fetch = (input, init) =>
      Promise.resolve(emulator.app.fetch(new Request(input, init)));
    const background = quotaGatedFetch(emulatorFetch, quota);
    const url = `https://api.airtable.com/v0/${DEMO_BASE_ID}/Orders?pageSize=1`;
    const init = { headers: { authorization: `Bearer ${EMULATOR_TOKEN}` } };
    await quota.report(); // the gate decides on the last figures, as before every background call
    expect((await background(url, init)).status).toBe(200);
    // 800 of 1,000 counted: background work's part (80 %) is spent, the rest is the apps'.
    counts.set(tokenKeyOf(EMULATOR_TOKEN), 800);
    await quota.report();
    emulator.control.clearCalls();
    const refused = await background(url, init).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AirmirrorError);
    expect((refused as AirmirrorError).code).toBe('PUBLIC_API_BILLING_LIMIT_EXCEEDED');
    expect((refused as AirmirrorError).message).toContain('2026-09-01T00:00:00.000Z');
    expect(emulator.control.calls()).toHaveLength(0);
    // An app's call (the proxy's fetch is not gated) still reaches Airtable.
    expect((await emulatorFetch(url, init)).status).toBe(200);
    expect(emulator.control.calls()).toHaveLength(1);
  });
});
