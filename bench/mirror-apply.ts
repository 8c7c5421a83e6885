/**
 * The mirror's write path: records/s for first inserts and for updates, applied in sweep pages,
 * and the cost of re-applying an unchanged listing (which must write nothing). Self-contained:
 * uses DATABASE_URL when set, otherwise a throwaway embedded Postgres. Prints one JSON line.
 * BENCH_RECORDS (default 100000), BENCH_PAGE (records per applyRecords call, default 1000).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AirtableRecord, BaseSchema } from '../src/airtable/types.ts';
import { createDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { sql } from '../src/db/sql.ts';
import { applyRecords, buildBaseMapping, createMirrorTables, takeFence } from '../src/mirror/index.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
const PAGE = Number(process.env.BENCH_PAGE ?? 1000);

const schema: BaseSchema = {
  tables: [
    {
      id: 'tblBench000000001',
      name: 'Orders',
      primaryFieldId: 'fldName',
      views: [],
      fields: [
        { id: 'fldName', name: 'Name', type: 'singleLineText' },
        { id: 'fldNotes', name: 'Notes', type: 'multilineText' },
        { id: 'fldAmount', name: 'Amount', type: 'currency', options: { precision: 2, symbol: '$' } },
        { id: 'fldQty', name: 'Quantity', type: 'number', options: { precision: 0 } },
        { id: 'fldPaid', name: 'Paid', type: 'checkbox' },
        { id: 'fldDue', name: 'Due', type: 'date' },
        { id: 'fldAt', name: 'Ordered At', type: 'dateTime' },
        { id: 'fldStatus', name: 'Status', type: 'singleSelect' },
        { id: 'fldTags', name: 'Tags', type: 'multipleSelects' },
        { id: 'fldCustomer', name: 'Customer', type: 'multipleRecordLinks' },
        { id: 'fldOwner', name: 'Owner', type: 'singleCollaborator' },
        { id: 'fldTotal', name: 'Total', type: 'formula', options: { result: { type: 'number' } } },
      ],
    },
  ],
};

function record(i: number, version: number): AirtableRecord {
  return {
    id: `rec${String(i).padStart(14, '0')}`,
    createdTime: '2024-01-01T00:00:00.000Z',
    fields: {
      fldName: `Order ${i} v${version}`,
      fldNotes: 'Some longer text that a real base would have in a notes field.',
      fldAmount: (i % 1000) + 0.99,
      fldQty: i % 17,
      ...(i % 2 === 0 ? { fldPaid: true } : {}),
      fldDue: '2024-06-30',
      fldAt: '2024-05-01T12:34:56.000Z',
      fldStatus: ['new', 'paid', 'shipped'][i % 3],
      fldTags: ['a', 'b'],
      fldCustomer: [`recCUST${String(i % 500).padStart(10, '0')}`],
      fldOwner: { id: 'usr00000000000000', email: 'owner@example.com', name: 'Owner' },
      fldTotal: ((i % 1000) + 0.99) * (i % 17),
    },
  };
}

const dir = process.env.DATABASE_URL ? undefined : mkdtempSync(join(tmpdir(), 'airmirror-bench-mirror-'));
const pgHandle = dir
  ? await startEmbeddedPostgres({ dataDir: dir, persistent: false, durable: false })
  : undefined;
const db = createDatabase(process.env.DATABASE_URL ?? pgHandle!.url);
try {
  await migrate(db);
  await db.query(
    sql(`INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ('bench', 'appBench', 'bench')`),
  );
  const mapping = buildBaseMapping('bench', schema);
  await db.query(sql('DROP SCHEMA IF EXISTS bench CASCADE'));
  await createMirrorTables(db, mapping);
  const table = mapping.tables[0];

  async function pass(version: number) {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const totals = { inserted: 0, updated: 0, unchanged: 0 };
    for (let i = 0; i < RECORDS; i += PAGE) {
      const fence = await takeFence(db);
      const page = Array.from({ length: Math.min(PAGE, RECORDS - i) }, (_, k) => record(i + k, version));
      const r = await applyRecords(db, table, page, {
        origin: 'sweep',
        sourceId: 'bench',
        fetchedBefore: fence,
      });
      totals.inserted += r.inserted;
      totals.updated += r.updated;
      totals.unchanged += r.unchanged;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      ...totals,
      seconds: Number(seconds.toFixed(3)),
      records_per_s: Math.round(RECORDS / seconds),
      node_cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
    };
  }

  const insert = await pass(1);
  const stats = async () =>
    (
      await db.query<{ upd: string }>(
        sql(
          `SELECT n_tup_upd::text AS upd FROM pg_stat_user_tables WHERE schemaname = 'bench' AND relname = 'orders'`,
        ),
      )
    ).rows[0].upd;
  await db.query(sql('SELECT pg_stat_force_next_flush()'));
  const updBefore = await stats();
  const unchanged = await pass(1);
  await db.query(sql('SELECT pg_stat_force_next_flush()'));
  const updAfter = await stats();
  const update = await pass(2);
  console.log(
    JSON.stringify({
      bench: 'mirror-apply',
      records: RECORDS,
      page: PAGE,
      insert,
      unchanged: { ...unchanged, rows_updated: Number(updAfter) - Number(updBefore) },
      update,
    }),
  );
} finally {
  await db.close();
  await pgHandle?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
