/**
 * The catch-up loop of `airmirror start` (invariant 5): ids whose proxy write the mirror missed
 * are re-fetched from Airtable and applied; ids Airtable no longer has are deleted; a nudge
 * wakes the loop at once.
 */
import { describe, expect, it } from 'vitest';
import { DEMO_BASE_ID } from '../../emulator/index.ts';
import { CatchupLoop } from '../../src/catchup/loop.ts';
import { sql } from '../../src/db/sql.ts';
import { insertCatchup } from '../../src/catchup/store.ts';
import { createTestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';
import { harness, SCHEMA, silentLog } from '../sync/fixture.ts';

const { db } = await createTestDatabase();
const h = await harness(db);
await h.syncer.syncAll();
const customers = (await h.mapping()).tables.find((t) => t.tableName === 'Customers')!;

async function queued(): Promise<number> {
  const r = await db.query<{ n: string }>(sql('SELECT count(*)::text AS n FROM airmirror.catchup'));
  return Number(r.rows[0].n);
}

function loop(intervalMs = 60_000) {
  return new CatchupLoop({
    db,
    log: silentLog,
    intervalMs,
    fetchRecords: ({ baseId, tableId, recordIds }) => h.client.getRecordsByIds(baseId, tableId, recordIds),
  });
}

describe('CatchupLoop', () => {
  it('applies records the mirror missed and deletes the ones Airtable no longer has', async () => {
    const [a, b] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [
      { fields: { Name: 'Missed create' } },
      { fields: { Name: 'Created then deleted' } },
    ]);
    // Put b in the mirror, then delete it in Airtable: the mirror now holds a row it should not.
    await h.syncer.syncTable(DEMO_BASE_ID, customers.tableId);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Customers', [b.id]);
    const now = new Date().toISOString();
    await db.query(
      insertCatchup(DEMO_BASE_ID, 'Customers', [
        { baseId: DEMO_BASE_ID, tableRef: 'Customers', recordId: a.id, op: 'upsert', queuedAt: now },
        { baseId: DEMO_BASE_ID, tableRef: 'Customers', recordId: b.id, op: 'delete', queuedAt: now },
      ]),
    );
    // a was never mirrored (as if the proxy's apply failed): remove it to be sure.
    await db.query(sql(`DELETE FROM ${SCHEMA}.${customers.table} WHERE id = $1`, [a.id]));
    expect(await queued()).toBe(2);

    const r = await loop().pass();
    expect(r).toEqual({ applied: 1, deleted: 1, remaining: 0 });
    const rows = await db.query<{ id: string; name: string }>(
      sql(`SELECT id, name FROM ${SCHEMA}.${customers.table} WHERE id = ANY($1)`, [[a.id, b.id]]),
    );
    expect(rows.rows).toEqual([{ id: a.id, name: 'Missed create' }]);
    expect(await queued()).toBe(0);
    expect((await h.verify()).tables.every((t) => t.missing === 0 && t.extra === 0)).toBe(true);
  });

  it('wakes at once when nudged, instead of waiting for its interval', async () => {
    const [c] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [{ fields: { Name: 'Nudged' } }]);
    const l = loop(3_600_000);
    l.start();
    try {
      await db.query(
        insertCatchup(DEMO_BASE_ID, customers.tableId, [
          {
            baseId: DEMO_BASE_ID,
            tableRef: customers.tableId,
            recordId: c.id,
            op: 'upsert',
            queuedAt: new Date().toISOString(),
          },
        ]),
      );
      l.nudge();
      await waitUntil(async () => (await queued()) === 0, { timeoutMs: 10_000, what: 'the queue to drain' });
      const row = await db.query(sql(`SELECT name FROM ${SCHEMA}.${customers.table} WHERE id = $1`, [c.id]));
      expect(row.rows).toEqual([{ name: 'Nudged' }]);
    } finally {
      await l.stop();
    }
  });
});
