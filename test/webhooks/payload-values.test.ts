import type { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { sql } from '../../src/db/sql.ts';
import { isComputedType } from '../../src/mirror/index.ts';
import { webhookReceiver } from '../../src/webhooks/routes.ts';
import type { WebhookService } from '../../src/webhooks/service.ts';
import { webhookStrategy } from '../../src/webhooks/strategy.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { DEMO_BASE_ID, harness, SOURCE_ID, type Harness } from '../sync/fixture.ts';
import { webhookService } from './fixture.ts';

/**
 * Issue 17: payloads carry every cell of a changed record (the specification asks for them), so
 * the drain applies them through the write path without fetching records — and the mirror ends
 * up exactly as a listing would leave it (verify: zero drift), for every field type of the demo
 * base, computed recalculations in linked tables included.
 */
let t: TestDatabase;
let h: Harness;
let receiver: Hono;
let service: WebhookService;

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, {
    emulator: { fetch: async (input, init) => receiver.fetch(new Request(input, init)) },
    syncer: { strategies: [webhookStrategy] },
  });
  const [built] = await h.syncer.syncAll();
  expect(built.error).toBeUndefined();
  await t.db.query(
    sql(`UPDATE airmirror.tables SET sync_type = 'webhook' WHERE source_id = $1`, [SOURCE_ID]),
  );
  service = webhookService(h, { syncer: h.syncer, hashCache: h.syncer.hashCache });
  receiver = webhookReceiver(service);
  await service.register(SOURCE_ID);
});

async function settle(): Promise<void> {
  await h.emulator.webhooks.flush();
  await service.idle();
}

/** Calls of the emulator other than payload reads since the last clearCalls(). */
function recordCalls() {
  return h.emulator.control.calls({ baseId: DEMO_BASE_ID }).filter((c) => !c.path.includes('/webhooks/'));
}

async function listAll(table: string): Promise<AirtableRecord[]> {
  const out: AirtableRecord[] = [];
  for await (const page of h.client.listAllRecords(DEMO_BASE_ID, table, { returnFieldsByFieldId: true }))
    out.push(...page.records);
  return out;
}

/** The writable cells of `from`, by field id (attachments by url, as Airtable takes new ones). */
async function writableCells(table: string, from: AirtableRecord): Promise<Record<string, unknown>> {
  const mapping = await h.table(table);
  const cells: Record<string, unknown> = {};
  for (const col of mapping.columns) {
    if (isComputedType(col.airtableType)) continue;
    const v = from.fields[col.fieldId];
    if (col.airtableType === 'multipleAttachments')
      cells[col.fieldId] = Array.isArray(v)
        ? v.map((a) => ({ url: (a as { url: string }).url, filename: (a as { filename: string }).filename }))
        : [];
    else cells[col.fieldId] = v ?? null;
  }
  return cells;
}

describe('payload values through the write path', () => {
  it('applies edits of every field type, clears, creations and deletions without fetching a record', async () => {
    for (const table of ['Customers', 'Products', 'Orders']) {
      const records = await listAll(table);
      expect(records.length).toBeGreaterThan(3);
      const [a, b, c, d] = records;
      h.emulator.control.clearCalls();
      // Swap every writable cell of two records (links, selects, collaborators, …); clear a third.
      h.emulator.control.updateRecords(DEMO_BASE_ID, table, [
        { id: a.id, fields: await writableCells(table, b) },
        { id: b.id, fields: await writableCells(table, a) },
      ]);
      const cleared = Object.fromEntries(
        Object.keys(await writableCells(table, c))
          .filter((fid) => c.fields[fid] !== undefined)
          .slice(1)
          .map((fid) => [fid, null]),
      );
      h.emulator.control.updateRecords(DEMO_BASE_ID, table, [{ id: c.id, fields: cleared }]);
      const [created] = h.emulator.control.createRecords(DEMO_BASE_ID, table, [
        { fields: await writableCells(table, d) },
      ]);
      h.emulator.control.deleteRecords(DEMO_BASE_ID, table, [d.id]);
      await settle();

      // Only payload reads reached Airtable: no record was fetched.
      expect(recordCalls()).toEqual([]);
      expect(h.emulator.control.calls({ path: '/payloads' }).length).toBeGreaterThan(0);
      const report = await h.verify();
      expect({
        table,
        drift: report.drift,
        tables: report.tables.filter((x) => x.different + x.missing + x.extra > 0),
      }).toEqual({
        table,
        drift: 0,
        tables: [],
      });
      const ids = (await listAll(table)).map((r) => r.id);
      expect(ids).toContain(created.id);
      expect(ids).not.toContain(d.id);
    }
  });

  it('fetches, many ids in one request, only the records the proxy wrote since the last drain', async () => {
    const orders = (await listAll('Orders')).slice(0, 6);
    const qty = (await h.table('Orders')).columns.find((c) => c.airtableType === 'number')!;
    // A drain first: its end is where "since the last drain" starts.
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Orders', [
      { id: orders[5].id, fields: { [qty.fieldId]: 7 } },
    ]);
    await settle();
    // Three rows written "by the proxy": the fence stamp the write path leaves for them.
    const { stampFenceSql } = await import('../../src/mirror/fence.ts');
    await t.db.query(
      stampFenceSql(
        SOURCE_ID,
        h.tableId('Orders'),
        orders.slice(0, 3).map((r) => r.id),
      ),
    );
    h.emulator.control.clearCalls();
    h.emulator.control.updateRecords(
      DEMO_BASE_ID,
      'Orders',
      orders.map((r, i) => ({ id: r.id, fields: { [qty.fieldId]: 1000 + i } })),
    );
    await settle();
    const fetches = recordCalls();
    expect(fetches).toHaveLength(1);
    expect((await h.verify()).drift).toBe(0);
  });
});
