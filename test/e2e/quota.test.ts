/**
 * Issue 17 end to end: `airmirror start` (a child process) against the emulator over HTTP. Its
 * calls are counted in Postgres and shown per token key — never the token — by `airmirror
 * status` (text and --json), `GET /api/status`, `GET /api/quota` and `/metrics`. When the
 * workspace's monthly quota is spent (the emulator's own quota, docs/airtable-reference.md §2.1)
 * the app's calls through the proxy get Airtable's billing 429 unchanged, and background work
 * pauses until the month resets — refused before it reaches Airtable — and says so, with the date.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenKeyOf } from '../../src/airtable/token-key.ts';
import {
  startMirrorProcess,
  tableStatuses,
  waitForTables,
  type MirrorProcess,
} from '../support/airmirror-process.ts';
import { waitUntil } from '../support/wait.ts';

let m: MirrorProcess;
const KEY = tokenKeyOf('patEmulator000001.' + '0123456789abcdef'.repeat(4));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

beforeAll(async () => {
  m = await startMirrorProcess({
    records: 120,
    schema: 'quota',
    logLevel: 'warn',
    env: { AIRMIRROR_MONTHLY_CALL_BUDGET: '100000', AIRMIRROR_QUOTA_APP_SHARE: '25' },
  });
  await waitForTables(m, 'the first sync', (s) => [...s.values()].every((t) => t.status === 'Completed'));
}, 120_000);

afterAll(async () => {
  await m?.stop();
});

const nextMonth = () => {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString();
};

describe('the monthly quota, end to end', () => {
  it('counts every call and shows it per token key in /api/quota, /api/status, status and /metrics', async () => {
    expect(KEY).toBe(tokenKeyOf(m.token));
    // Every call Airtable answered is counted (claims reach Postgres within moments; the quota
    // reads them every few seconds): the figure catches up with the emulator's call log.
    const quota = await waitUntil(
      async () => {
        const answered = m.emulator.control.calls().filter((c) => c.status !== null).length;
        const r = await m.api('GET', '/quota');
        const q = (r.json as Json).quotas.find((x: Json) => x.token_key === KEY);
        return q && answered > 0 && q.month_to_date === answered && q.sources.length === 1 ? q : undefined;
      },
      { what: "the quota's count to match the calls Airtable answered", timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(quota).toMatchObject({
      monthly_budget: 100_000,
      apps_share_percent: 25,
      background_limit: 75_000,
      paused: null,
      sources: [{ source_id: m.baseId, max_lag_seconds: 60, drain_window_seconds: 55 }],
    });

    const status = (await m.api('GET', '/status')).json as Json;
    expect(Object.keys(status)).toEqual(['tables', 'sources', 'processes', 'quota']);
    expect(status.quota.map((q: Json) => q.token_key)).toEqual([KEY]);

    const cli = await m.command(['status', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    const fromCli = JSON.parse(cli.stdout);
    expect(Object.keys(fromCli)).toEqual(['tables', 'sources', 'processes', 'quota']);
    expect(fromCli.quota).toHaveLength(1);
    expect(fromCli.quota[0]).toMatchObject({
      token_key: KEY,
      monthly_budget: 100_000,
      apps_share_percent: 25,
      sources: [{ source_id: m.baseId, max_lag_seconds: 60 }],
    });
    expect(fromCli.quota[0].month_to_date).toBeGreaterThanOrEqual(quota.month_to_date);
    const text = await m.command(['status']);
    expect(text.stdout).toContain('QUOTA (Airtable calls, this UTC month)');
    expect(text.stdout).toMatch(
      new RegExp(`token ${KEY}: [\\d,]+ calls this month, projected [\\d,]+ of 100,000`),
    );
    for (const out of [cli.stdout, text.stdout, JSON.stringify(status)]) expect(out).not.toContain(m.token);

    const metrics = await (await fetch(`${m.url}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`^airmirror_quota_month_to_date_calls\\{token_key="${KEY}"\\} [1-9]\\d*$`, 'm'),
    );
    expect(metrics).toContain(`airmirror_quota_budget_calls{token_key="${KEY}"} 100000`);
    expect(metrics).not.toContain(m.token);
  });

  it('the billing 429: the app gets it unchanged, background work pauses until the month resets and says so', async () => {
    // The workspace's monthly quota is spent at Airtable.
    m.emulator.control.setMonthlyQuota(100_000, { token: m.token, used: 100_000 });

    // An app's call through the proxy: Airtable's answer, as it is.
    const app = await fetch(`${m.proxyUrl}/v0/${m.baseId}/Orders?pageSize=1`, {
      headers: { authorization: `Bearer ${m.token}` },
    });
    expect(app.status).toBe(429);
    const direct = await fetch(`${m.emulatorUrl}/v0/${m.baseId}/Orders?pageSize=1`, {
      headers: { authorization: `Bearer ${m.token}` },
    });
    expect(await app.json()).toEqual(await direct.json());

    // Background work meets it (a sync of Orders asked for): not retried, paused until the reset.
    const orders = (await tableStatuses(m)).get('Orders')!;
    m.emulator.control.clearCalls();
    expect((await m.api('POST', `/schemas/${orders.id}/reload`)).status).toBe(202);
    const paused = await waitUntil(
      async () => {
        const q = ((await m.api('GET', '/quota')).json as Json).quotas.find((x: Json) => x.token_key === KEY);
        return q?.paused === 'billing' ? q : undefined;
      },
      { what: 'background work paused by the billing 429', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(paused.resumes_at).toBe(nextMonth());
    expect(paused.background).toMatch(/^paused until .*PUBLIC_API_BILLING_LIMIT_EXCEEDED/);
    const billed = m.emulator.control.calls({ baseId: m.baseId }).filter((c) => c.status === 429);
    expect(billed).toHaveLength(1); // never retried
    await waitForTables(m, 'the failed run to end', (s) => s.get('Orders')!.status === 'Failed');

    // The next background call is refused before it reaches Airtable.
    m.emulator.control.clearCalls();
    expect((await m.api('POST', `/schemas/${orders.id}/reload`)).status).toBe(202);
    await waitUntil(
      async () => {
        const rows = await m.query<{ status: string; latest_error: string | null }>(
          "SELECT status, latest_error FROM airmirror.tables WHERE table_name = 'Orders'",
        );
        return rows[0].status === 'Failed' && rows[0].latest_error?.includes(`paused until ${nextMonth()}`);
      },
      { what: 'the refused run to fail, naming the date', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(m.emulator.control.calls()).toEqual([]);

    const text = await m.command(['status']);
    expect(text.stdout).toContain(`background work paused until ${nextMonth()}`);
    const metrics = await (await fetch(`${m.url}/metrics`)).text();
    expect(metrics).toContain(`airmirror_quota_paused{token_key="${KEY}",reason="billing"} 1`);
    expect(m.unexpectedExits).toEqual([]);
  });
});
