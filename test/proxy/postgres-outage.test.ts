import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { JOURNAL_FILE } from '../../proxy/catchup-journal.ts';
import { drainCatchup } from '../../src/catchup/drain.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { sql } from '../../src/db/sql.ts';
import { EMULATOR_TOKEN } from '../../emulator/index.ts';
import { verifySource } from '../../sync/verify.ts';
import { waitUntil } from '../support/wait.ts';
import { startStack, type Stack } from './harness.ts';

/**
 * Invariant 5 against a real outage: a Postgres of this test's own is stopped mid-run, writes go
 * on (the app gets Airtable's answers), Postgres comes back, and the catch-up queue plus drain
 * leave the mirror equal to Airtable.
 */
const dir = mkdtempSync(join(tmpdir(), 'airmirror-outage-'));
let pg: EmbeddedPostgresHandle;
let db: Database;
let s: Stack;

beforeAll(async () => {
  pg = await startEmbeddedPostgres({ dataDir: dir, persistent: true, durable: false });
  db = createDatabase(pg.url, { max: 4, connectionTimeoutMs: 1_000, onError: () => undefined });
  // The pool's short connect timeout is the scenario's (the outage must be felt at once); a
  // Postgres that has just started on a busy machine may take longer than that to take its first
  // connections, so the setup waits until it does.
  await waitUntil(
    () =>
      db.query(sql('SELECT 1')).then(
        () => true,
        () => false,
      ),
    { what: 'the new Postgres to take connections', timeoutMs: 60_000 },
  );
  await migrate(db);
  s = await startStack(db, { applyTimeoutMs: 2_000, catchupRetryMs: 50 });
}, 120_000);

afterAll(async () => {
  await s?.close();
  await db?.close();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

it('writes during a Postgres outage reach the mirror once it is back; nothing is lost', async () => {
  const customers = s.base('Customers');
  const t = s.table('Customers');
  const [kept, doomed] = await customers.create([
    { fields: { Name: 'Before outage' } },
    { fields: { Name: 'Doomed' } },
  ]);
  const count = async (ids: string[]) =>
    (
      await db.query<{ n: number }>(
        sql('SELECT count(*)::int AS n FROM public.customers WHERE id = ANY($1)', [ids]),
      )
    ).rows[0].n;
  expect(await count([kept.id, doomed.id])).toBe(2);

  await pg.stop();

  // Airtable accepts these; the app gets its answers although the mirror cannot apply them.
  const updated = await customers.update(kept.id, { Notes: 'written while Postgres was down' });
  expect(updated.get('Notes')).toBe('written while Postgres was down');
  const created = await customers.create({ Name: 'Created during outage' });
  await customers.destroy(doomed.id);
  expect(s.proxy.catchup.pending()).toBe(3);

  // The journal holds ids only: no record contents, no token.
  const journal = readFileSync(join(s.dataDir, JOURNAL_FILE), 'utf8');
  expect(journal).toContain(kept.id);
  expect(journal).toContain(created.id);
  expect(journal).toContain(doomed.id);
  expect(journal).not.toContain('written while');
  expect(journal).not.toContain('Created during');
  expect(journal).not.toContain(EMULATOR_TOKEN);

  pg = await startEmbeddedPostgres({ dataDir: dir, port: pg.port, persistent: true, durable: false });
  await waitUntil(() => s.proxy.catchup.pending() === 0, {
    timeoutMs: 20_000,
    intervalMs: 20,
    retryErrors: true,
    what: 'the catch-up queue to reach Postgres',
  });

  const queued = await db.query(sql('SELECT record_id, op FROM airmirror.catchup ORDER BY record_id'));
  expect(queued.rows).toEqual(
    [
      { record_id: kept.id, op: 'upsert' },
      { record_id: created.id, op: 'upsert' },
      { record_id: doomed.id, op: 'delete' },
    ].sort((a, b) => a.record_id.localeCompare(b.record_id)),
  );
  const flagged = await db.query(
    sql('SELECT needs_catchup FROM airmirror.tables WHERE table_id = $1', [t.tableId]),
  );
  expect(flagged.rows).toEqual([{ needs_catchup: true }]);
  expect(readFileSync(join(s.dataDir, JOURNAL_FILE), 'utf8')).toBe('');

  // The syncer's part: re-fetch the queued ids (here with airmirror's own client).
  const drained = await drainCatchup({
    db,
    fetchRecords: ({ baseId, tableId, recordIds }) => s.client.getRecordsByIds(baseId, tableId, recordIds),
  });
  expect(drained).toEqual({ applied: 2, deleted: 1, remaining: 0 });

  const notes = await db.query(sql('SELECT notes FROM public.customers WHERE id = $1', [kept.id]));
  expect(notes.rows).toEqual([{ notes: 'written while Postgres was down' }]);
  expect(await count([created.id])).toBe(1);
  expect(await count([doomed.id])).toBe(0);
  const cleared = await db.query(
    sql('SELECT needs_catchup FROM airmirror.tables WHERE table_id = $1', [t.tableId]),
  );
  expect(cleared.rows).toEqual([{ needs_catchup: false }]);

  const report = await verifySource({ db, client: s.client }, s.sourceId, { tableIds: [t.tableId] });
  expect(report.tables.map((x) => [x.tableName, x.missing, x.extra, x.different])).toEqual([
    ['Customers', 0, 0, 0],
  ]);
}, 120_000);
