import { beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../src/api/index.ts';
import { addCallsSql } from '../../src/airtable/store.ts';
import { tokenKeyOf } from '../../src/airtable/token-key.ts';
import { callsThisMonthByToken } from '../../src/bookkeeping/airtable-calls.ts';
import { ensureSourcesFromConfig, updateSourceSettings } from '../../src/bookkeeping/sources.ts';
import { printStatus } from '../../src/commands/status.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { createMetrics } from '../../src/metrics.ts';
import {
  createQuotaService,
  quotaMetricsCollector,
  serializeReport,
  type QuotaService,
} from '../../src/quota/index.ts';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/**
 * Issue 17: the quota is visible per token key (never the token) in `airmirror status` (text and
 * --json), `GET /api/status` and `/metrics`: calls this month as the shared budget counted them
 * in Postgres, the projection, the budget and the apps' share, whether background work is spaced
 * out and how, and a billing pause with the date it ends.
 */
const NOW = Date.UTC(2026, 5, 16); // half of June gone
const KEY = tokenKeyOf(EMULATOR_TOKEN);
const SETTINGS = { defaultBudget: 100_000, appShare: 0.2 };
let t: TestDatabase;
let quota: QuotaService;

beforeAll(async () => {
  t = await createTestDatabase();
  await ensureSourcesFromConfig(t.db, {
    bases: [{ baseId: DEMO_BASE_ID, schema: 'shop' }],
    airtableToken: EMULATOR_TOKEN,
  });
  // 60,000 calls this June, as the shared budget's claims count them (two bases' worth).
  await t.db.query(
    addCallsSql(
      [
        { tokenKey: KEY, baseId: DEMO_BASE_ID, calls: 50_000 },
        { tokenKey: KEY, baseId: 'appOTHER000000000', calls: 10_000 },
      ],
      NOW,
    ),
  );
  quota = createQuotaService({
    db: t.db,
    now: () => NOW,
    ...SETTINGS,
    refreshMs: 0,
    callsByToken: (at) => callsThisMonthByToken(t.db, { at }),
    sourceTokenKey: async () => tokenKeyOf(EMULATOR_TOKEN),
  });
  // The running process resolves the source's token once: its key is recorded for readers
  // without the token (`airmirror status`).
  await quota.report();
});

async function statusJson() {
  let out = '';
  await printStatus(t.db, { json: true, now: NOW, quota: SETTINGS, write: (s) => (out += s) });
  return { out, parsed: JSON.parse(out) };
}

async function statusText() {
  let out = '';
  await printStatus(t.db, { json: false, now: NOW, quota: SETTINGS, write: (s) => (out += s) });
  return out;
}

describe('the quota in status', () => {
  it('status --json: a quota key beside tables, sources and processes, per token key', async () => {
    const { out, parsed } = await statusJson();
    expect(Object.keys(parsed)).toEqual(['tables', 'sources', 'processes', 'quota']);
    expect(parsed.quota).toHaveLength(1);
    expect(parsed.quota[0]).toMatchObject({
      token_key: KEY,
      monthly_budget: 100_000,
      apps_share_percent: 20,
      month_to_date: 60_000,
      projection: 120_000,
      background_limit: 80_000,
      spacing: 1.5,
      spaced_out: true,
      paused: null,
      resumes_at: null,
      sources: [{ source_id: DEMO_BASE_ID, max_lag_seconds: 60, drain_window_seconds: 82.5 }],
    });
    expect(parsed.quota[0].background).toMatch(/^spaced out ×1\.50: the projection 120,000 passes/);
    expect(parsed.quota[0].background).toContain('safety-net sweeps');
    expect(out).not.toContain(EMULATOR_TOKEN);
  });

  it('status (text): a QUOTA section saying the same', async () => {
    const out = await statusText();
    expect(out).toContain('QUOTA (Airtable calls, this UTC month)');
    expect(out).toContain(
      `token ${KEY}: 60,000 calls this month, projected 120,000 of 100,000 (apps' share 20%)`,
    );
    expect(out).toMatch(/background work spaced out ×1\.50/);
    expect(out).toContain(`sources: ${DEMO_BASE_ID} (max lag 60s)`);
    expect(out).not.toContain(EMULATOR_TOKEN);
  });

  it('GET /api/status shows what the CLI shows; a new max_lag_seconds at once', async () => {
    const api = createApi({
      db: t.db,
      secrets: createSecretBox('quota-status-test-key-0123456789'),
      now: () => NOW,
      quota: async () => serializeReport(await quota.fullReport()),
      onSourceChanged: () => quota.invalidate(),
    });
    const res = await api.request('/status');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['tables', 'sources', 'processes', 'quota']);
    expect(body.quota).toEqual((await statusJson()).parsed.quota);

    // max_lag_seconds is part of the source: shown by GET, set by PATCH (validated, naming the field).
    const source = (await (await api.request(`/sources/${DEMO_BASE_ID}`)).json()) as Record<string, unknown>;
    expect(source.max_lag_seconds).toBe(60);
    const patch = (body: unknown) =>
      api.request(`/sources/${DEMO_BASE_ID}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const bad of [0, 86_401, 2.5, 'soon', null]) {
      const res = await patch({ max_lag_seconds: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(await res.json()).toMatchObject({ type: 'validation_error', attr: 'max_lag_seconds' });
    }
    const patched = await patch({ max_lag_seconds: 30 });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ id: DEMO_BASE_ID, max_lag_seconds: 30 });
    const again = (await (await api.request('/status')).json()) as { quota: Array<{ sources: unknown }> };
    // 30 s less a 5 s margin, spaced ×1.5.
    expect(again.quota[0].sources).toEqual([
      { source_id: DEMO_BASE_ID, max_lag_seconds: 30, drain_window_seconds: 37.5 },
    ]);
    await updateSourceSettings(t.db, DEMO_BASE_ID, { maxLagSeconds: 60 });
    quota.invalidate();
  });

  it('/metrics: the same figures per token key, and the pause with its date', async () => {
    const metrics = createMetrics();
    await quotaMetricsCollector(quota, metrics)();
    const text = await metrics.registry.metrics();
    const line = (name: string) =>
      new RegExp(`^${name}\\{token_key="${KEY}"\\} (\\S+)$`, 'm').exec(text)?.[1];
    expect(line('airmirror_quota_month_to_date_calls')).toBe('60000');
    expect(line('airmirror_quota_projection_calls')).toBe('120000');
    expect(line('airmirror_quota_budget_calls')).toBe('100000');
    expect(line('airmirror_quota_app_share_ratio')).toBe('0.2');
    expect(line('airmirror_quota_spacing_ratio')).toBe('1.5');
    expect(text).toContain(`airmirror_quota_paused{token_key="${KEY}",reason="billing"} 0`);
    expect(text).not.toContain(EMULATOR_TOKEN);
  });

  it("a billing 429 pause: status, /api/status and /metrics say so, with the month's reset", async () => {
    await quota.billingLimitReached(KEY);
    const { parsed } = await statusJson();
    expect(parsed.quota[0]).toMatchObject({
      paused: 'billing',
      resumes_at: '2026-07-01T00:00:00.000Z',
      spaced_out: false,
    });
    expect(parsed.quota[0].background).toMatch(
      /^paused until 2026-07-01T00:00:00\.000Z: Airtable answered 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED/,
    );
    expect(await statusText()).toContain('background work paused until 2026-07-01T00:00:00.000Z');
    const metrics = createMetrics();
    await quotaMetricsCollector(quota, metrics)();
    const text = await metrics.registry.metrics();
    expect(text).toContain(`airmirror_quota_paused{token_key="${KEY}",reason="billing"} 1`);
    expect(text).toContain(
      `airmirror_quota_resumes_at_seconds{token_key="${KEY}"} ${Date.UTC(2026, 6, 1) / 1000}`,
    );
  });

  it('unlimited: no budget to pass, every ping drains at once', async () => {
    await quota.setBudget(KEY, null);
    let out = '';
    await printStatus(t.db, {
      json: true,
      now: Date.UTC(2026, 6, 2), // July: June's billing pause is over
      quota: SETTINGS,
      write: (s) => (out += s),
    });
    const q = JSON.parse(out).quota[0];
    expect(q).toMatchObject({
      monthly_budget: 'unlimited',
      background_limit: null,
      paused: null,
      spacing: 1,
    });
    expect(q.sources[0].drain_window_seconds).toBe(0);
    await quota.setBudget(KEY, undefined);
  });
});
