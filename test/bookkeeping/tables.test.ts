import { beforeEach, describe, expect, it } from 'vitest';
import {
  IllegalTransition,
  applyTableEvent,
  changeStatus,
  failInterruptedRuns,
  findTable,
  recordRunFailure,
  recordRunStopped,
  startRun,
  updateTableConfig,
} from '../../src/bookkeeping/index.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';

/** Status changes of `airmirror.tables` rows, all through the state machine (changeStatus). */
const { db } = await createTestDatabase();
const SOURCE = 'src_books';
const TABLE = 'tblBooks000000001';

async function status(): Promise<string | null> {
  return (await findTable(db, SOURCE, TABLE))!.status;
}
async function setStatus(s: string | null): Promise<void> {
  await db.query(sql('UPDATE airmirror.tables SET status = $2 WHERE table_id = $1', [TABLE, s]));
}

beforeEach(async () => {
  await db.query(sql('DELETE FROM airmirror.sources'));
  await db.query(
    sql(
      `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, 'appBooks0000000001', 'books')`,
      [SOURCE],
    ),
  );
  await db.query(
    sql(
      `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table)
       VALUES ('row1', $1, $2, 'Books', 'books')`,
      [SOURCE, TABLE],
    ),
  );
});

describe('changeStatus', () => {
  it('moves a table through a run, stamping success and recording failure', async () => {
    await applyTableEvent(db, SOURCE, TABLE, 'start');
    expect(await status()).toBe('Running');
    // row_count is the write path's (kept in the statements that insert and delete rows): a run's
    // outcome does not overwrite it with a count taken outside their lock.
    await db.query(
      sql('UPDATE airmirror.tables SET row_count = 7 WHERE source_id = $1 AND table_id = $2', [
        SOURCE,
        TABLE,
      ]),
    );
    await applyTableEvent(db, SOURCE, TABLE, 'succeed', { rowCount: 3, at: new Date(Date.UTC(2026, 0, 1)) });
    let t = (await findTable(db, SOURCE, TABLE))!;
    expect(t).toMatchObject({ status: 'Completed', rowCount: 7, latestError: null, schemaName: 'books' });
    expect(t.lastSyncedAt?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    await applyTableEvent(db, SOURCE, TABLE, 'start');
    await applyTableEvent(db, SOURCE, TABLE, 'fail', { error: 'boom' });
    t = (await findTable(db, SOURCE, TABLE))!;
    expect(t).toMatchObject({ status: 'Failed', latestError: 'boom', rowCount: 7 });
  });

  it('refuses an illegal event, or with ifAllowed leaves the table as it is', async () => {
    await setStatus('Running');
    await expect(applyTableEvent(db, SOURCE, TABLE, 'start')).rejects.toBeInstanceOf(IllegalTransition);
    await setStatus('Completed');
    const r = await db.tx((q) => changeStatus(q, SOURCE, TABLE, 'cancel', { ifAllowed: true }));
    expect(r).toBe('Completed');
    expect(await status()).toBe('Completed');
    const missing = await db.tx((q) => changeStatus(q, SOURCE, 'tblNope', 'cancel', { ifAllowed: true }));
    expect(missing).toBeUndefined();
  });

  it('interrupts Running tables of the given sources and fails their runs', async () => {
    await setStatus('Running');
    const run = await startRun(db, { sourceId: SOURCE, tableId: TABLE, kind: 'full_refresh' });
    expect(await failInterruptedRuns(db, ['other'])).toBe(0);
    expect(await failInterruptedRuns(db, [SOURCE])).toBe(1);
    const t = (await findTable(db, SOURCE, TABLE))!;
    expect(t.status).toBe('Failed');
    expect(t.latestError).toMatch(/interrupted/);
    const r = await db.query(sql('SELECT status, error FROM airmirror.sync_runs WHERE id = $1', [run]));
    expect(r.rows[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/interrupted/) });
  });
});

describe("the scheduler's outcomes", () => {
  const key = { id: 'row1', sourceId: SOURCE, tableId: TABLE };

  it('a failed run faults the table, but a paused or cancelled one keeps its status', async () => {
    for (const [from, to] of [
      [null, 'Failed'],
      ['Completed', 'Failed'],
      ['Running', 'Failed'],
      ['Paused', 'Paused'],
      ['Cancelled', 'Cancelled'],
    ] as const) {
      await setStatus(from);
      await recordRunFailure(db, key, { failures: 1, retryAt: null, error: 'x' });
      expect(await status()).toBe(to);
    }
    expect((await findTable(db, SOURCE, TABLE))!).toMatchObject({ latestError: 'x', consecutiveFailures: 1 });
  });

  it('a cancelled run leaves a Running table Cancelled; a skipped one changes no status', async () => {
    await setStatus('Running');
    await recordRunStopped(db, key, { nextRunAt: null, cancelled: false });
    expect(await status()).toBe('Running');
    await recordRunStopped(db, key, { nextRunAt: null, cancelled: true });
    expect(await status()).toBe('Cancelled');
    await recordRunStopped(db, key, { nextRunAt: null, cancelled: true });
    expect(await status()).toBe('Cancelled');
  });
});

describe('updateTableConfig', () => {
  it('refuses a Running table unless pausing, and pauses and resumes through the machine', async () => {
    await setStatus('Running');
    expect(await updateTableConfig(db, 'row1', { syncFrequency: '5min' })).toBe(false);
    expect((await findTable(db, SOURCE, TABLE))!.syncFrequency).toBe('1hour');
    expect(
      await updateTableConfig(db, 'row1', { shouldSync: false }, { evenIfRunning: true, event: 'pause' }),
    ).toBe(true);
    expect((await findTable(db, SOURCE, TABLE))!).toMatchObject({ status: 'Paused', shouldSync: false });
    // A second pause is no error and changes nothing.
    expect(await updateTableConfig(db, 'row1', { shouldSync: false }, { event: 'pause' })).toBe(true);
    expect(await status()).toBe('Paused');
    await updateTableConfig(db, 'row1', { shouldSync: true, nextRunAt: null }, { event: 'resume' });
    expect((await findTable(db, SOURCE, TABLE))!).toMatchObject({ status: null, shouldSync: true });
    expect(await updateTableConfig(db, 'nope', { syncFrequency: '5min' })).toBe(false);
  });
});
