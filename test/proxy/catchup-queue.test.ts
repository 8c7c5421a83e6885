import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileJournal } from '../../proxy/catchup-journal.ts';
import { CatchupQueue } from '../../proxy/catchup-queue.ts';
import type { CatchupItem } from '../../src/catchup/types.ts';
import { createDatabase } from '../../src/db/database.ts';
import { freePort } from '../../src/db/embedded.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';
import { BASE_ID, mirrorBase, PLACES_SCHEMA } from './fixtures.ts';

const item = (recordId: string, op: CatchupItem['op'] = 'upsert', tableRef = 'Places'): CatchupItem => ({
  baseId: BASE_ID,
  tableRef,
  recordId,
  op,
  queuedAt: '2026-01-01T00:00:00.000Z',
});

describe('the catch-up queue', () => {
  let t: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    t = await createTestDatabase();
    await mirrorBase(t.db, { baseId: BASE_ID, schema: PLACES_SCHEMA });
    dir = mkdtempSync(join(tmpdir(), 'airmirror-journal-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('journals ids while Postgres is away, and a restarted process moves them into airmirror.catchup', async () => {
    const journal = createFileJournal(dir);
    const down = createDatabase(`postgres://postgres:x@127.0.0.1:${await freePort()}/postgres`, {
      connectionTimeoutMs: 200,
    });
    const first = new CatchupQueue({ db: down, journal, retryMs: 20 });
    first.start();
    first.enqueue([item('recAAAAAAAAAAAAA1'), item('recAAAAAAAAAAAAA2', 'delete', 'tblPlaces00000001')]);
    await expect(first.flush()).rejects.toThrow();
    expect(first.pending()).toBe(2);
    await first.stop();
    await down.close();

    const lines = readFileSync(journal.path, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      item('recAAAAAAAAAAAAA1'),
      item('recAAAAAAAAAAAAA2', 'delete', 'tblPlaces00000001'),
    ]);

    // A new process: the journal is replayed and persisted by the loop.
    const persisted: number[] = [];
    const second = new CatchupQueue({
      db: t.db,
      journal,
      retryMs: 20,
      onPersisted: (n) => persisted.push(n),
    });
    second.start();
    await waitUntil(() => second.pending() === 0, { what: 'the journal to reach Postgres' });
    await second.stop();
    expect(persisted).toEqual([2]);

    const rows = await t.db.query(
      sql('SELECT source_id, table_ref, record_id, op FROM airmirror.catchup ORDER BY record_id'),
    );
    // A table name is resolved to its id when the mirror knows it.
    expect(rows.rows).toEqual([
      {
        source_id: `src_${BASE_ID}`,
        table_ref: 'tblPlaces00000001',
        record_id: 'recAAAAAAAAAAAAA1',
        op: 'upsert',
      },
      {
        source_id: `src_${BASE_ID}`,
        table_ref: 'tblPlaces00000001',
        record_id: 'recAAAAAAAAAAAAA2',
        op: 'delete',
      },
    ]);
    const flag = await t.db.query(sql('SELECT needs_catchup FROM airmirror.tables'));
    expect(flag.rows).toEqual([{ needs_catchup: true }]);
    expect(readFileSync(journal.path, 'utf8')).toBe('');
  });

  it('keeps the latest op per record and ignores bases that are not mirrored', async () => {
    const q = new CatchupQueue({ db: t.db });
    q.enqueue([
      item('recBBBBBBBBBBBBB1', 'upsert'),
      item('recBBBBBBBBBBBBB1', 'delete'),
      { ...item('recCCCCCCCCCCCCC1'), baseId: 'appNotMirrored001' },
    ]);
    expect(await q.flush()).toBe(3);
    const rows = await t.db.query(
      sql(
        `SELECT record_id, op FROM airmirror.catchup WHERE record_id LIKE 'recB%' OR record_id LIKE 'recC%'`,
      ),
    );
    expect(rows.rows).toEqual([{ record_id: 'recBBBBBBBBBBBBB1', op: 'delete' }]);
  });

  it('a torn journal line is skipped on load', async () => {
    const d = mkdtempSync(join(tmpdir(), 'airmirror-journal-'));
    const j = createFileJournal(d);
    j.append([item('recDDDDDDDDDDDDD1')]);
    const { appendFileSync } = await import('node:fs');
    appendFileSync(j.path, '{"baseId":"app');
    expect(j.load()).toEqual([item('recDDDDDDDDDDDDD1')]);
    rmSync(d, { recursive: true, force: true });
  });
});

describe('the catch-up queue under concurrent flushes', () => {
  it('two flushes at once never drop an item enqueued in between', async () => {
    const t = await createTestDatabase();
    await mirrorBase(t.db, { baseId: BASE_ID, schema: PLACES_SCHEMA });
    const q = new CatchupQueue({ db: t.db });
    q.enqueue([item('recEEEEEEEEEEEE01'), item('recEEEEEEEEEEEE02')]);
    const a = q.flush();
    const b = q.flush();
    q.enqueue([item('recEEEEEEEEEEEE03')]); // while both flushes are in flight
    await Promise.all([a, b]);
    expect(q.pending()).toBe(0);
    const rows = await t.db.query(sql('SELECT record_id FROM airmirror.catchup ORDER BY record_id'));
    expect(rows.rows.map((r) => r.record_id)).toEqual([
      'recEEEEEEEEEEEE01',
      'recEEEEEEEEEEEE02',
      'recEEEEEEEEEEEE03',
    ]);
  });
});
