import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { printStatus } from '../../src/commands/status.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createServerApp } from '../../src/server.ts';
import type { Database } from '../../src/db/database.ts';
import { createTestDatabase } from '../support/db.ts';
import { createFakeClock } from '../support/fake-clock.ts';
import { waitUntil } from '../support/wait.ts';
import { DEMO_BASE_ID, harness, SCHEMA, SOURCE_ID } from './fixture.ts';

/**
 * Bad schemas degrade, never stop (issue 13): a field name with a NUL byte or with nothing to make a
 * name from, and field types spelled like JavaScript object properties, map to safe columns with a
 * warning; every table of the base still syncs. A schema read that keeps failing is retried with
 * backoff while it fails, and status and /healthz say so.
 */
async function columns(db: Database, table: string) {
  const r = await db.query<{ column_name: string; data_type: string; comment: string | null }>(
    sql(
      `SELECT c.column_name, c.data_type, col_description(to_regclass($1), c.ordinal_position::int) AS comment
         FROM information_schema.columns c WHERE c.table_schema = $2 AND c.table_name = $3`,
      [`${SCHEMA}.${table}`, SCHEMA, table],
    ),
  );
  return r.rows;
}

function healthApp(db: Database) {
  return createServerApp({
    db,
    metrics: createMetrics({ defaults: false }),
    api: new Hono(),
    apiExtras: [],
    proxy: new Hono(),
    guard: { host: '127.0.0.1' },
  });
}

describe('hostile field names and types', () => {
  it('map to safe columns with warnings, and every table of the base syncs, at first and after a change', async () => {
    const { db } = await createTestDatabase();
    const h = await harness(db, { emulator: { records: 30 } });
    const add = (table: string, name: string, type: string) =>
      h.emulator.control.createField(DEMO_BASE_ID, table, { name, type });
    add('Orders', 'Bad\u0000Name', 'singleLineText');
    add('Orders', '🚀🚀', 'singleLineText');
    add('Orders', 'constructor', 'constructor');
    add('Customers', 'Proto', '__proto__');
    add('Customers', 'To String', 'toString');
    const [res] = await h.syncer.syncAll();
    expect(res.error).toBeUndefined();
    expect(res.tables.map((t) => t.status)).toEqual(['Completed', 'Completed', 'Completed']);
    const orders = await columns(db, 'orders');
    const byName = Object.fromEntries(orders.map((c) => [c.column_name, c]));
    expect(byName.bad_name.data_type).toBe('text');
    expect(byName.bad_name.comment).toContain('Bad\uFFFDName');
    expect(byName.field.data_type).toBe('text');
    expect(byName.constructor_2 ?? byName.constructor).toMatchObject({ data_type: 'jsonb' });
    const customers = Object.fromEntries((await columns(db, 'customers')).map((c) => [c.column_name, c]));
    expect(customers.proto.data_type).toBe('jsonb');
    expect(customers.to_string.data_type).toBe('jsonb');

    const warnings = async (tableId: string) =>
      (
        await db.query<{ w: string[] }>(
          sql(
            `SELECT ARRAY(SELECT jsonb_array_elements(warnings)->>'message') AS w FROM airmirror.sync_status WHERE table_id = $1`,
            [tableId],
          ),
        )
      ).rows[0].w;
    const ow = await warnings(h.tableId('Orders'));
    expect(ow.some((w) => w.includes('Bad\uFFFDName') && w.includes('bad_name'))).toBe(true);
    expect(ow.some((w) => w.includes('"🚀🚀"') && w.includes('column field'))).toBe(true);
    expect(ow.some((w) => w.includes('"constructor"') && w.includes('jsonb'))).toBe(true);
    const cw = await warnings(h.tableId('Customers'));
    expect(cw.some((w) => w.includes('"__proto__"'))).toBe(true);
    expect(cw.some((w) => w.includes('"toString"'))).toBe(true);

    // A change to hostile names after the first build goes in place just the same.
    h.emulator.control.renameField(DEMO_BASE_ID, 'Orders', 'Quantity', 'Qty\u0000');
    h.emulator.control.renameTable(DEMO_BASE_ID, 'Products', '\u0000');
    const [again] = await h.syncer.syncAll();
    expect(again.error).toBeUndefined();
    expect(again.tables.every((t) => t.status === 'Completed')).toBe(true);
    expect((await columns(db, 'orders')).map((c) => c.column_name)).toContain('qty');
    const products = await db.query<{ mirror_table: string }>(
      sql('SELECT mirror_table FROM airmirror.tables WHERE table_id = $1', [h.tableId('Products')]),
    );
    expect(products.rows[0].mirror_table).toBe('untitled_table');
    expect((await h.verify()).drift).toBe(0);
  });
});

describe('a failing schema read', () => {
  it('is retried with backoff while it fails; status and /healthz say so until it succeeds', async () => {
    const { db } = await createTestDatabase();
    const clock = createFakeClock(Date.now());
    const h = await harness(db, {
      emulator: { records: 30 },
      syncer: { now: clock.now, sleep: (ms, signal) => clock.sleep(ms, signal).catch(() => undefined) },
    });
    const meta = { path: `/v0/meta/bases/${DEMO_BASE_ID}/tables` };
    // Five 503s in a row: the client's every attempt of the first read.
    h.emulator.control.fail({ kind: 'status', status: 503, count: 5, match: meta });
    const [first] = await h.syncer.syncAll();
    expect(first.error).toMatch(/^reading the base schema failed/);
    const state = await db.query<{ schema_error: string; schema_failures: number; schema_retry_at: Date }>(
      sql(
        'SELECT schema_error, schema_failures, schema_retry_at FROM airmirror.source_status WHERE source_id = $1',
        [SOURCE_ID],
      ),
    );
    expect(state.rows[0]).toMatchObject({
      schema_failures: 1,
      schema_error: expect.stringMatching(/RETRIABLE_ERROR/),
    });
    expect(state.rows[0].schema_retry_at.getTime()).toBe(clock.now() + 30_000);
    const health = await healthApp(db).request('/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'degraded',
      schema_reads: [{ source: SOURCE_ID, failures: 1, error: expect.stringMatching(/RETRIABLE_ERROR/) }],
    });

    // `airmirror status` (and GET /api/status, which reads the same rows) names it too.
    let report = '';
    await printStatus(db, { json: false, now: clock.now(), write: (x) => void (report += x) });
    expect(report).toMatch(new RegExp(`source ${SOURCE_ID} \\(${SCHEMA}\\): reading the base schema failed`));
    let json = '';
    await printStatus(db, { json: true, now: clock.now(), write: (x) => void (json += x) });
    expect(JSON.parse(json).sources).toEqual([
      expect.objectContaining({ source_id: SOURCE_ID, schema_failures: 1, schema_error: expect.any(String) }),
    ]);

    // Still failing at the first retry (five more 503s): the wait doubles.
    h.emulator.control.fail({ kind: 'status', status: 503, count: 5, match: meta });
    await h.syncer.start();
    // Time moves once the retry loop sleeps until the retry (moved before, it would sleep on).
    const retryTime = state.rows[0].schema_retry_at.getTime();
    await waitUntil(() => clock.sleepsUntil(retryTime), { what: 'the retry loop asleep until the retry' });
    clock.jump(30_000);
    await waitUntil(
      async () =>
        (
          await db.query<{ n: number }>(
            sql('SELECT schema_failures AS n FROM airmirror.sources WHERE id = $1', [SOURCE_ID]),
          )
        ).rows[0].n === 2,
      { what: 'the first retry' },
    );
    const retryAt = (
      await db.query<{ t: Date }>(
        sql('SELECT schema_retry_at AS t FROM airmirror.sources WHERE id = $1', [SOURCE_ID]),
      )
    ).rows[0].t;
    expect(retryAt.getTime()).toBe(clock.now() + 60_000);

    // The next retry reads it: the base is built, and the error is gone everywhere.
    await waitUntil(() => clock.sleepsUntil(retryAt.getTime()), {
      what: 'the retry loop asleep until the retry',
    });
    clock.jump(60_000);
    await waitUntil(
      async () =>
        (
          await db.query<{ n: number }>(
            sql(`SELECT count(*)::int AS n FROM airmirror.tables WHERE status = 'Completed'`),
          )
        ).rows[0].n === 3,
      { what: 'the base built by the retry' },
    );
    const after = await db.query<{ schema_error: string | null; schema_failures: number }>(
      sql('SELECT schema_error, schema_failures FROM airmirror.source_status WHERE source_id = $1', [
        SOURCE_ID,
      ]),
    );
    expect(after.rows[0]).toEqual({ schema_error: null, schema_failures: 0 });
    expect(await (await healthApp(db).request('/healthz')).json()).toEqual({ status: 'ok', postgres: 'ok' });
    await h.syncer.stop();
  });
});
