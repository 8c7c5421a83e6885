import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatStatusTable, tableStatuses, type TableStatus } from '../../src/api/status.ts';
import { sql } from '../../src/db/sql.ts';
import { RunProgress } from '../../sync/run-progress.ts';
import { newCounters, startRun, finishRun } from '../../src/bookkeeping/runs.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { harness, listingPause, silentLog, SOURCE_ID, type Harness } from './fixture.ts';
import { waitUntil } from '../support/wait.ts';

/**
 * A long sync shows how far it has got: the counters of running table runs reach
 * `airmirror.sync_runs` every few seconds, and `status` (API and CLI) shows them.
 */
let t: TestDatabase;
let h: Harness;
const pause = listingPause((table) => table === h.tableId('Orders'));

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, {
    emulator: { records: 450 },
    budgetPerSecond: 1_000,
    syncer: { progressIntervalMs: 10 },
    wrapClient: pause.wrap,
  });
  await h.syncer.start();
});

// A failed assertion must not leave a sync paused for the next test.
afterEach(() => pause.release());

async function ordersStatus(): Promise<TableStatus> {
  const all = await tableStatuses(t.db, Date.now(), SOURCE_ID);
  const orders = all.filter((s) => s.table === 'Orders');
  expect(orders).toHaveLength(1);
  return orders[0];
}

/** Until the written progress of Orders shows at least `records` (the loop writes every 10 ms). */
function progressReaches(records: number): Promise<TableStatus> {
  return waitUntil(
    async () => {
      const s = await ordersStatus();
      return (s.progress?.records_seen ?? 0) >= records ? s : undefined;
    },
    { what: `progress of ${records} records` },
  );
}

describe('progress of a running sync', () => {
  it('shows in status during a first sync (a rebuild), and is gone once it completed', async () => {
    const reached = pause.pauseAfter(2);
    const sync = h.syncer.syncAll();
    await reached;
    const during = await progressReaches(200);
    // No airmirror.tables row yet: the first sync builds the table out of sight.
    expect(during).toMatchObject({ schema_id: null, status: 'Running', sync_type: 'full_refresh', rows: 0 });
    expect(during.mirror_table).toBe('demo.<first sync of Orders>');
    expect(during.progress).toMatchObject({ records_seen: 200, expected_rows: 0 });
    expect(formatStatusTable([during])).toContain('Running 200 listed');
    pause.release();
    const [r] = await sync;
    expect(r.error).toBeUndefined();
    const after = await ordersStatus();
    expect(after.status).toBe('Completed');
    expect(after.progress).toBeNull();
    expect(after.rows).toBe(450);
    expect(after.schema_id).not.toBeNull();
    expect(after.mirror_table).toBe('demo.orders');
  });

  it('shows against the previous row count during a later sweep', async () => {
    const reached = pause.pauseAfter(3);
    const sync = h.syncer.syncTable(SOURCE_ID, h.tableId('Orders'), { full: true });
    await reached;
    const during = await progressReaches(300);
    expect(during.progress).toMatchObject({ records_seen: 300, expected_rows: 450 });
    expect(formatStatusTable([during])).toContain('Running 300/450');
    pause.release();
    expect((await sync).status).toBe('Completed');
    expect((await ordersStatus()).progress).toBeNull();
  });
});

describe('RunProgress', () => {
  it('writes the live counters of open runs only, and never over a finished run', async () => {
    const progress = new RunProgress(t.db, silentLog);
    const a = newCounters();
    const b = newCounters();
    const runA = await startRun(t.db, {
      sourceId: SOURCE_ID,
      tableId: 'tblProgressA00001',
      kind: 'full_refresh',
    });
    const runB = await startRun(t.db, {
      sourceId: SOURCE_ID,
      tableId: 'tblProgressB00001',
      kind: 'full_refresh',
    });
    progress.track(runA, a);
    progress.track(runB, b);
    a.seen = 120;
    a.requests = 2;
    a.inserted = 100;
    b.seen = 7;
    expect(await progress.flush()).toBe(2);
    const row = async (id: string) =>
      (
        await t.db.query<{ records_seen: number; requests: number; records_upserted: number }>(
          sql('SELECT records_seen, requests, records_upserted FROM airmirror.sync_runs WHERE id = $1', [id]),
        )
      ).rows[0];
    expect(await row(runA)).toEqual({ records_seen: 120, requests: 2, records_upserted: 100 });
    expect((await row(runB)).records_seen).toBe(7);

    // B ends with its final figures; a flush racing that end must not overwrite them.
    b.seen = 9;
    await finishRun(t.db, runB, 'completed', b);
    b.seen = 1_000;
    await progress.flush();
    expect((await row(runB)).records_seen).toBe(9);

    progress.untrack(runA);
    progress.untrack(runB);
    expect(await progress.flush()).toBe(0);
  });
});
