/**
 * Issue 15: a paused table is written by nothing (docs/schema-changes.md). Through the endpoint an
 * INSERT, UPDATE or DELETE on it is refused before anything is sent — Airtable and the mirror stay
 * as they were; through the HTTP proxy Airtable takes the write (the app asked Airtable) and the
 * mirror does not. Either way the mirror table is untouched until the table resumes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createProxy } from '../../../proxy/app.ts';
import { createPgWriter } from '../../../proxy/pg-writer.ts';
import { updateTableConfig } from '../../../src/bookkeeping/table-config.ts';
import { findTable } from '../../../src/bookkeeping/tables.ts';
import { sql } from '../../../src/db/sql.ts';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../../emulator/index.ts';
import { createFakeClock } from '../../support/fake-clock.ts';
import { refusal, usePgEndpoint } from './harness.ts';

const clock = createFakeClock();
const s = usePgEndpoint({ endpoint: { now: clock.now } });
let schemaId: string;

beforeAll(async () => {
  schemaId = (await findTable(s.db, s.sourceId, s.table('Customers').tableId))!.id;
});

/** Pauses or resumes Customers as PATCH /api/schemas/{id} does, then lets the endpoint's catalog age out. */
async function setPaused(paused: boolean): Promise<void> {
  const done = await updateTableConfig(
    s.db,
    schemaId,
    { shouldSync: !paused },
    { event: paused ? 'pause' : 'resume' },
  );
  expect(done).toBe(true);
  clock.jump(1_001);
}

/** Everything a write could change: Airtable's records, the mirror rows, change events, requests sent. */
async function state() {
  const airtable = (await s.airtableAll('Customers')).sort((a, b) => a.id.localeCompare(b.id));
  const mirror = (await s.db.query(sql('SELECT * FROM customers ORDER BY id'))).rows;
  const events = (
    await s.db.query<{ n: number }>(
      sql('SELECT count(*)::int AS n FROM airmirror.outbox WHERE source_id = $1', [s.sourceId]),
    )
  ).rows[0].n;
  return { airtable, mirror, events, sent: s.sent.length };
}

async function someId(): Promise<string> {
  return (await s.db.query<{ id: string }>(sql('SELECT id FROM customers ORDER BY id LIMIT 1'))).rows[0].id;
}

function expectPausedRefusal(err: Awaited<ReturnType<typeof refusal>>, kind: string): void {
  expect(err.code).toBe('55000');
  expect(err.message).toBe('mirror table "public.customers" is paused');
  expect(err.schema).toBe('public');
  expect(err.table).toBe('customers');
  expect(err.detail).toContain(`this ${kind} was not sent to Airtable`);
  expect(err.hint).toContain(`PATCH /api/schemas/${schemaId} with {"should_sync": true}`);
  expect(err.hint).toContain('HTTP proxy');
}

describe('a paused table through the endpoint', () => {
  it('INSERT, UPDATE and DELETE — simple, prepared, in a multi-statement string, in a transaction — are refused with 55000; Airtable and the mirror are untouched', async () => {
    const c = await s.connect();
    const id = await someId();
    await setPaused(true);
    const before = await state();

    expectPausedRefusal(
      await refusal(c.query(`UPDATE customers SET notes = 'while paused' WHERE id = '${id}'`)),
      'UPDATE',
    );
    expectPausedRefusal(
      await refusal(c.query(`INSERT INTO customers (name) VALUES ('Paused Person') RETURNING id`)),
      'INSERT',
    );
    expectPausedRefusal(await refusal(c.query(`DELETE FROM customers WHERE id = '${id}'`)), 'DELETE');
    // Prepared (extended protocol, parameters), twice: the second Execute reuses the prepared write.
    for (let i = 0; i < 2; i++) {
      expectPausedRefusal(
        await refusal(
          c.query({
            name: 'paused_update',
            text: 'UPDATE public.customers SET notes = $2 WHERE id = $1 RETURNING notes',
            values: [id, `prepared ${i}`],
          }),
        ),
        'UPDATE',
      );
    }
    // In a string of several statements: the ones before it run, the write stops the string.
    expectPausedRefusal(
      await refusal(
        c.query(`CREATE TEMP TABLE before_write (x int); DELETE FROM customers WHERE id = '${id}'`),
      ),
      'DELETE',
    );
    expect((await c.query('SELECT count(*)::int AS n FROM before_write')).rows).toEqual([{ n: 0 }]);
    // Under the 'apply' transaction policy the pause still wins.
    await c.query('BEGIN');
    await c.query(`SET LOCAL airmirror.transaction_writes = 'apply'`);
    expectPausedRefusal(
      await refusal(c.query(`UPDATE customers SET notes = 'in a transaction' WHERE id = '${id}'`)),
      'UPDATE',
    );
    await c.query('ROLLBACK');

    expect(await state()).toEqual(before);
    // Reads of a paused table pass through as ever.
    expect((await c.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBe(before.mirror.length);
  });

  it('the HTTP proxy on the same paused table: Airtable takes the write, the mirror does not (it owes a full listing)', async () => {
    const id = await someId();
    await setPaused(true);
    const mirrorBefore = await s.mirror('Customers', id);
    const proxy = createProxy({
      upstreamUrl: s.emulatorUrl,
      fetch: (i, init) => fetch(i, init),
      timeoutMs: 5_000,
      maxBodyBytes: 1_000_000,
      writer: createPgWriter({ db: s.db, sourceTtlMs: 0 }),
    });
    const res = await proxy.app.fetch(
      new Request(`http://proxy.test/api.airtable.com/v0/${DEMO_BASE_ID}/Customers/${id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ fields: { Notes: 'through the HTTP proxy while paused' } }),
      }),
    );
    expect(res.status).toBe(200);
    const notes = s.table('Customers').columns.find((x) => x.column === 'notes')!;
    expect((await s.airtable('Customers', id))?.fields[notes.fieldId]).toBe(
      'through the HTTP proxy while paused',
    );
    expect(await s.mirror('Customers', id)).toEqual(mirrorBefore);
    const fill = await s.db.query<{ fill_pending: boolean }>(
      sql('SELECT fill_pending FROM airmirror.tables WHERE id = $1', [schemaId]),
    );
    expect(fill.rows[0].fill_pending).toBe(true);
  });

  it('once resumed, the same UPDATE through the endpoint goes to Airtable and the mirror', async () => {
    const c = await s.connect();
    const id = await someId();
    await setPaused(true);
    await refusal(c.query(`UPDATE customers SET notes = 'resumed' WHERE id = '${id}'`));
    await setPaused(false);
    const r = await c.query(`UPDATE customers SET notes = 'resumed' WHERE id = '${id}' RETURNING notes`);
    expect(r.rows).toEqual([{ notes: 'resumed' }]);
    const notes = s.table('Customers').columns.find((x) => x.column === 'notes')!;
    expect((await s.airtable('Customers', id))?.fields[notes.fieldId]).toBe('resumed');
    expect((await s.mirror('Customers', id))?.notes).toBe('resumed');
  });
});
