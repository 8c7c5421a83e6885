import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { startStack, type Stack } from './harness.ts';

/** Airtable failing (the emulator's fault injection) as the app sees it through the proxy. */
let db: Database;
let s: Stack;
beforeAll(async () => {
  ({ db } = await createTestDatabase());
  s = await startStack(db, { upstreamTimeoutMs: 300 });
});
afterAll(() => s.close());

const outboxCount = async () =>
  (await db.query<{ n: number }>(sql('SELECT count(*)::int AS n FROM airmirror.outbox'))).rows[0].n;

function call(method: string, path: string, body?: unknown) {
  return fetch(`${s.proxyUrl}/api.airtable.com/v0/${DEMO_BASE_ID}${path}`, {
    method,
    headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

it('Airtable hanging: 504 with an Airtable-shaped body, nothing applied', async () => {
  const before = await outboxCount();
  s.emulator.control.fail({ kind: 'hang', match: { method: 'POST' } });
  const res = await call('POST', '/Customers', { fields: { Name: 'never' } });
  expect(res.status).toBe(504);
  expect(await res.json()).toMatchObject({ error: { type: 'PROXY_UPSTREAM_TIMEOUT' } });
  expect(await outboxCount()).toBe(before);
  s.emulator.control.clearFaults();
});

it('Airtable answering 503: the answer is passed through unchanged, nothing applied', async () => {
  const before = await outboxCount();
  s.emulator.control.fail({ kind: 'status', status: 503, match: { method: 'PATCH' } });
  const [r] = await s.base('Customers').select({ maxRecords: 1 }).firstPage();
  const res = await call('PATCH', `/Customers/${r.id}`, { fields: { Notes: 'not applied' } });
  expect(res.status).toBe(503);
  expect(await res.json()).toMatchObject({ error: { type: 'RETRIABLE_ERROR' } });
  expect(await outboxCount()).toBe(before);
});

it('Airtable answering 502 HTML: passed through unchanged', async () => {
  s.emulator.control.fail({ kind: 'status', status: 502 });
  const res = await call('GET', '/Customers');
  expect(res.status).toBe(502);
  expect(res.headers.get('content-type')).toMatch(/text\/html/);
  expect(await res.text()).toContain('502 Bad Gateway');
});

it('a 2xx answer cut off mid-stream on a write: the proxy answers 502, nothing applied', async () => {
  const before = await outboxCount();
  s.emulator.control.fail({ kind: 'truncate', match: { method: 'POST' } });
  const res = await call('POST', '/Customers', { fields: { Name: 'cut' } });
  expect([200, 502]).toContain(res.status);
  if (res.status === 502)
    expect(await res.json()).toMatchObject({ error: { type: 'PROXY_UPSTREAM_UNREACHABLE' } });
  expect(await outboxCount()).toBe(before);
});
