import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { sql } from '../../src/db/sql.ts';
import { waitUntil } from '../support/wait.ts';
import { countRows, harness, listingPause, SCHEMA, SOURCE_ID, tableState, type Harness } from './fixture.ts';

/**
 * Postgres goes away in the middle of a run, so the run fails and the write of its outcome fails
 * too. The outcome is recorded once Postgres is back, by the same process: the table ends
 * Failed with the reason, never stays Running, and the next run completes. Once mid-sweep, once
 * mid-rebuild (a base's first build). A Postgres of this file's own, stopped and started.
 */
const dir = mkdtempSync(join(tmpdir(), 'airmirror-sync-restart-'));
let server: EmbeddedPostgresHandle;
let db: Database;
let h: Harness;
const pause = listingPause((table) => table === h.tableId('Orders'));

beforeAll(async () => {
  server = await startEmbeddedPostgres({ dataDir: dir, durable: false });
  db = createDatabase(server.url, { max: 6, connectionTimeoutMs: 2_000, onError: () => undefined });
  await migrate(db);
  h = await harness(db, { emulator: { records: 250 }, budgetPerSecond: 1_000, wrapClient: pause.wrap });
}, 120_000);

afterAll(async () => {
  pause.release();
  await h?.syncer.stop();
  await db?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Stops Postgres while the Orders listing waits after its first page, then lets the run go on. */
async function restartDuring<T>(run: () => Promise<T>): Promise<{ result: T; statusWhileDown: string }> {
  const paused = pause.pauseAfter(1);
  const running = run();
  await paused;
  const statusWhileDown = (await tableState(db, h.tableId('Orders'))).status ?? 'none';
  await server.stop();
  pause.release();
  // The run fails against the stopped server and waits to record that; it cannot finish yet.
  const early = await Promise.race([
    running.then(() => 'finished'),
    new Promise((r) => setTimeout(() => r('waiting'), 1_500)),
  ]);
  expect(early).toBe('waiting');
  await server.start();
  return { result: await running, statusWhileDown };
}

describe('Postgres restarting in the middle of a run', () => {
  it('mid-refill: the table ends Failed, not Running, and the next run fills it again', async () => {
    const [first] = await h.syncer.syncAll();
    expect(first.tables.map((t) => t.status)).toEqual(['Completed', 'Completed', 'Completed']);
    // A field retyped so its values must be read again: the next sync fills Orders again through
    // the swap schema (docs/schema-changes.md); the other tables sync as usual.
    h.emulator.control.changeFieldType(SOURCE_ID, 'Orders', 'Quantity', 'singleSelect');
    const { result, statusWhileDown } = await restartDuring(() => h.syncer.syncAll());
    expect(result[0].rebuilt).toBe(false);
    expect(statusWhileDown).toBe('Running');
    const byName = new Map(result[0].tables.map((t) => [t.tableName, t.status]));
    expect(byName.get('Orders')).toBe('Failed');
    const orders = await tableState(db, h.tableId('Orders'));
    expect(orders.status).toBe('Failed');
    expect(orders.latest_error).toMatch(/schema rebuild failed/);
    for (const name of ['Customers', 'Products']) {
      expect((await tableState(db, h.tableId(name))).status).not.toBe('Running');
    }
    const runs = await db.query(
      sql("SELECT count(*)::int AS n FROM airmirror.sync_runs WHERE status = 'running'"),
    );
    expect(runs.rows).toEqual([{ n: 0 }]);

    const [again] = await h.syncer.syncAll();
    expect(again.rebuilt).toBe(true);
    expect(again.tables.map((t) => t.status)).toEqual(['Completed', 'Completed', 'Completed']);
    const quantity = (await h.table('Orders')).columns.find((c) => c.fieldName === 'Quantity');
    expect(quantity?.airtableType).toBe('singleSelect');
    expect(await countRows(db, await h.table('Orders'))).toBe(250);
  }, 120_000);

  it('mid-sweep: the table ends Failed, not Running, and the next sweep completes with 0 drift', async () => {
    const ordersId = h.tableId('Orders');
    h.emulator.control.deleteRecords(SOURCE_ID, 'Orders', [(await firstOrder()).id]);
    const { result, statusWhileDown } = await restartDuring(() => h.syncer.syncTable(SOURCE_ID, ordersId));
    expect(statusWhileDown).toBe('Running');
    expect(result.status).toBe('Failed');
    const s = await tableState(db, ordersId);
    expect(s.status).toBe('Failed');
    expect(s.latest_error).toMatch(/terminat|Connection|ECONNREFUSED/);
    // Nothing was deleted by the incomplete listing.
    expect(await countRows(db, await h.table('Orders'))).toBe(250);

    const again = await waitUntil(
      async () => {
        const r = await h.syncer.syncTable(SOURCE_ID, ordersId);
        return r.status === 'Completed' ? r : undefined;
      },
      { what: 'a completed sweep', timeoutMs: 30_000 },
    );
    expect(again.counters.deleted).toBe(1);
    expect((await h.verify()).drift).toBe(0);
  }, 120_000);
});

async function firstOrder(): Promise<{ id: string }> {
  const r = await db.query<{ id: string }>(sql(`SELECT id FROM ${SCHEMA}.orders ORDER BY id LIMIT 1`));
  return r.rows[0];
}
