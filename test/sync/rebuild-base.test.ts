import { describe, expect, it } from 'vitest';
import { loadSource } from '../../src/bookkeeping/sources.ts';
import { newCounters } from '../../src/bookkeeping/runs.ts';
import { sql } from '../../src/db/sql.ts';
import { loadMapping } from '../../src/mirror/index.ts';
import { createSyncerEnv } from '../../sync/env.ts';
import { createHashCache } from '../../sync/hash-cache.ts';
import { SyncerProcess } from '../../sync/lifecycle.ts';
import { createBaseOwnership } from '../../sync/ownership.ts';
import { rebuildBase } from '../../sync/rebuild.ts';
import { RunProgress } from '../../sync/run-progress.ts';
import { createTestDatabase } from '../support/db.ts';
import {
  API_URL,
  DEMO_BASE_ID,
  EMULATOR_TOKEN,
  emulatorFetch,
  harness,
  SCHEMA,
  SOURCE_ID,
  silentLog,
} from './fixture.ts';

/** The Postgres columns of a mirror table. */
async function columnsOf(db: Parameters<typeof loadMapping>[0], table: string): Promise<string[]> {
  const r = await db.query<{ c: string }>(
    sql(
      `SELECT column_name AS c FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2 ORDER BY column_name`,
      [SCHEMA, table],
    ),
  );
  return r.rows.map((x) => x.c);
}

describe('rebuildBase: a whole re-import of a base with a paused table', () => {
  it('leaves the paused table as it is, records the layout it really has, and changes it when it resumes', async () => {
    const { db } = await createTestDatabase();
    const h = await harness(db, { emulator: { records: 20 } });
    await h.syncer.syncAll();
    const productsId = h.tableId('Products');
    await db.query(
      sql(`UPDATE airmirror.tables SET should_sync = false, status = 'Paused' WHERE table_id = $1`, [
        productsId,
      ]),
    );
    const productsOid = async () =>
      (await db.query<{ oid: number }>(sql(`SELECT '${SCHEMA}.products'::regclass::oid AS oid`))).rows[0].oid;
    const oidBefore = await productsOid();
    h.emulator.control.createField(DEMO_BASE_ID, 'Products', {
      name: 'Shelf Colour',
      type: 'singleLineText',
    });
    h.emulator.control.createField(DEMO_BASE_ID, 'Customers', {
      name: 'Reorder Tier',
      type: 'singleLineText',
    });

    // The syncer's own parts, as createSyncer wires them, to call the whole rebuild directly.
    const fetchFn = emulatorFetch(h.emulator);
    const runProgress = new RunProgress(db, silentLog, {});
    const ownership = createBaseOwnership({ db, log: silentLog, role: 'once' });
    const env = createSyncerEnv(
      {
        db,
        fetch: fetchFn,
        budget: h.budget,
        apiUrl: API_URL,
        tokenFor: () => EMULATOR_TOKEN,
        hashCacheSize: 1000,
        log: silentLog,
        now: h.clock.now,
        clientOptions: { now: h.clock.now, sleep: h.clock.sleep, random: () => 0.5 },
      },
      {
        hashCache: createHashCache({ max: 1000 }),
        runProgress,
        lifecycle: new SyncerProcess({ ownership, ownsOwnership: true, runProgress }),
        ownership,
      },
    );
    const source = (await loadSource(db, SOURCE_ID))!;
    const baseSchema = await h.client.getBaseSchema(DEMO_BASE_ID);
    const out = await rebuildBase(env, {
      source,
      client: await env.clientOf(source),
      baseSchema,
      hash: '',
      old: await loadMapping(db, SOURCE_ID),
      signal: new AbortController().signal,
      counters: newCounters(),
    });
    expect(out.error).toBeUndefined();
    expect(out.rebuilt).toBe(true);
    expect(await columnsOf(db, 'customers')).toContain('reorder_tier');
    // The paused table was written by nothing: the same table, without the new column…
    expect(await productsOid()).toBe(oidBefore);
    expect(await columnsOf(db, 'products')).not.toContain('shelf_colour');
    // …and the mapping records the columns it has, not the ones it will get when it resumes.
    const recorded = (await loadMapping(db, SOURCE_ID))!;
    const products = recorded.tables.find((t) => t.tableId === productsId)!;
    expect(products.columns.map((c) => c.fieldName)).not.toContain('Shelf Colour');
    expect(recorded.tables.find((t) => t.tableName === 'Customers')!.columns.map((c) => c.column)).toContain(
      'reorder_tier',
    );

    // Resumed, its next sync sees the layout it lacks and makes the change.
    await db.query(
      sql(`UPDATE airmirror.tables SET should_sync = true, status = NULL WHERE table_id = $1`, [productsId]),
    );
    const [res] = await h.syncer.syncAll();
    expect(res.error).toBeUndefined();
    expect(res.schemaChanged).toBe(true);
    expect(await columnsOf(db, 'products')).toContain('shelf_colour');
    expect((await h.verify()).drift).toBe(0);
    await h.syncer.stop();
  });
});
