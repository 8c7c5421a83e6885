import { describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';
import { harness, SCHEMA, SOURCE_ID } from '../sync/fixture.ts';
import { connect, readerRole } from '../sync/readers.ts';

/**
 * `airmirror.sync_status` is for SQL readers (issue 13, migration 031): a role given the views
 * reads every mirrored table's status there without reading airmirror's bookkeeping tables.
 */
describe('airmirror.sync_status', () => {
  it('shows a reader role each table: mirror name, sync type, status, last run, current rows, lag, error', async () => {
    const t = await createTestDatabase();
    const h = await harness(t.db, { emulator: { records: 25 } });
    const [res] = await h.syncer.syncAll();
    expect(res.error).toBeUndefined();
    const role = readerRole();
    const q = (text: string) => t.db.query(sql(text));
    await q(`CREATE ROLE ${role}`);
    await q(`GRANT USAGE ON SCHEMA airmirror TO ${role}`);
    await q(`GRANT SELECT ON airmirror.sync_status, airmirror.source_status TO ${role}`);
    const ordersCount = Number(
      (await t.db.query<{ n: string }>(sql(`SELECT count(*)::text AS n FROM ${SCHEMA}.orders`))).rows[0].n,
    );
    const reader = await connect(t.url);
    try {
      await reader.query(`SET ROLE ${role}`);
      const r = await reader.query(
        `SELECT table_name, mirror_schema, mirror_table, sync_type, status, last_sync_started_at,
                last_sync_finished_at, rows, lag_seconds, latest_error
           FROM airmirror.sync_status WHERE source_id = $1 ORDER BY table_name`,
        [SOURCE_ID],
      );
      expect(r.rows.map((x) => x.table_name)).toEqual(['Customers', 'Orders', 'Products']);
      for (const row of r.rows) {
        expect(row).toMatchObject({
          mirror_schema: SCHEMA,
          sync_type: 'full_refresh',
          status: 'Completed',
          latest_error: null,
        });
        expect(row.last_sync_started_at).toBeInstanceOf(Date);
        expect(row.last_sync_finished_at.getTime()).toBeGreaterThanOrEqual(
          row.last_sync_started_at.getTime(),
        );
        expect(Number(row.lag_seconds)).toBeGreaterThanOrEqual(0);
      }
      expect(Number(r.rows.find((x) => x.table_name === 'Orders').rows)).toBe(ordersCount);
      const sources = await reader.query('SELECT source_id, schema_error FROM airmirror.source_status');
      expect(sources.rows).toEqual([{ source_id: SOURCE_ID, schema_error: null }]);
      // The bookkeeping itself stays closed to the reader.
      await expect(reader.query('SELECT 1 FROM airmirror.tables')).rejects.toThrow(/permission denied/);
    } finally {
      await reader.end();
      await q(`DROP OWNED BY ${role}`);
      await q(`DROP ROLE ${role}`);
      await h.syncer.stop();
    }
  });
});
