import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';
import { DEMO_BASE_ID, harness, SCHEMA } from './fixture.ts';

/**
 * A reader object that cannot survive a schema change is named in the log too (besides status and
 * the schema.changed event, test/sync/schema.test.ts): one warning per object.
 */
describe('the log of a schema change', () => {
  it('names each reader object the change could not keep', async () => {
    const { db } = await createTestDatabase();
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const h = await harness(db, { emulator: { records: 20 }, syncer: { log } });
    await h.syncer.syncAll();
    await db.query(sql(`CREATE VIEW public.order_notes AS SELECT id, notes FROM ${SCHEMA}.orders`));
    h.emulator.control.deleteField(DEMO_BASE_ID, 'Orders', 'Notes');
    const [res] = await h.syncer.syncAll();
    expect(res.error).toBeUndefined();
    const dropped = lines.filter(
      (l) => l.msg === 'schema change: a reader object could not be kept and was dropped',
    );
    expect(dropped).toEqual([
      expect.objectContaining({ object: 'public.order_notes', kind: 'view', table: h.tableId('Orders') }),
    ]);
    await h.syncer.stop();
  });
});
