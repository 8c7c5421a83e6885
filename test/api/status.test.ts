import { describe, expect, it, vi } from 'vitest';
import { formatLag, formatStatusTable, tableStatuses } from '../../src/api/status.ts';
import { printStatus, statusCommand } from '../../src/commands/status.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';
import { createBaseOwnership } from '../../sync/ownership.ts';
import pino from 'pino';
import { hostname } from 'node:os';

const { db, url } = await createTestDatabase();
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

await db.query(
  sql(`INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ('s1', 'appAAAAAAAAAAAAAA', 'shop')`),
);
await db.query(
  sql(
    `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table, sync_type, status,
       last_synced_at, row_count, latest_error, needs_catchup, should_sync, vanished_at)
     VALUES
       ('a', 's1', 'tblAAAAAAAAAAAAAA', 'Orders', 'orders', 'incremental', 'Completed', $1, 250, NULL, false, true, NULL),
       ('b', 's1', 'tblBBBBBBBBBBBBBB', 'Customers', 'customers', 'full_refresh', 'Failed', $2, 12,
        'Airtable answered 503 SERVICE_UNAVAILABLE', true, true, NULL),
       ('c', 's1', 'tblCCCCCCCCCCCCCC', 'Drafts', 'drafts', 'append', 'Paused', NULL, 0, NULL, false, false, NULL),
       ('d', 's1', 'tblDDDDDDDDDDDDDD', 'Gone', 'gone', 'full_refresh', 'Completed', NULL, 0, NULL, false, true, now())`,
    [new Date(NOW - 90_000), new Date(NOW - 3 * 3_600_000 - 60_000)],
  ),
);

describe('status', () => {
  it('reports each live table with type, status, rows, lag, error and catch-up', async () => {
    const rows = await tableStatuses(db, NOW);
    expect(rows.map((r) => r.table)).toEqual(['Customers', 'Drafts', 'Orders']);
    const byName = Object.fromEntries(rows.map((r) => [r.table, r]));
    expect(byName.Orders).toMatchObject({
      mirror_table: 'shop.orders',
      sync_type: 'incremental',
      status: 'Completed',
      rows: 250,
      lag_seconds: 90,
      latest_error: null,
      needs_catchup: false,
    });
    expect(byName.Customers).toMatchObject({ status: 'Failed', needs_catchup: true, lag_seconds: 10_860 });
    expect(byName.Drafts).toMatchObject({ should_sync: false, last_synced_at: null, lag_seconds: null });
  });

  it('prints JSON with --json', async () => {
    let out = '';
    expect(await printStatus(db, { json: true, now: NOW, write: (s) => (out += s) })).toBe(0);
    const parsed = JSON.parse(out);
    expect(parsed.tables).toHaveLength(3);
    expect(parsed.tables[0]).toHaveProperty('latest_error');
  });

  it('prints a readable table otherwise', async () => {
    let out = '';
    await printStatus(db, { json: false, now: NOW, write: (s) => (out += s) });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^TABLE\s+SYNC TYPE\s+STATUS\s+LAST SYNCED\s+ROWS\s+LAG\s+CATCH-UP\s+OWNER\s+ERROR$/,
    );
    expect(lines).toHaveLength(4);
    expect(out).toMatch(
      /shop\.customers\s+full_refresh\s+Failed\s+\S+\s+12\s+3h 1m\s+yes\s+-\s+Airtable answered 503/,
    );
    expect(out).toMatch(/shop\.drafts\s+append\s+Paused\s+-\s+0\s+-\s+no/);
    expect(out).toMatch(/shop\.orders\s+incremental\s+Completed\s+\S+\s+250\s+1m\s+no/);
  });

  it('formats lags and an empty configuration', () => {
    expect([null, 5, 61, 3_600 * 5 + 120, 86_400 * 3 + 3_600].map(formatLag)).toEqual([
      '-',
      '5s',
      '1m',
      '5h 2m',
      '3d 1h',
    ]);
    expect(formatStatusTable([])).toBe('no tables configured\n');
  });
});

describe('who owns each base', () => {
  it('shows the owning process (host, pid, id) and its heartbeat, in the rows, the JSON and the text', async () => {
    const owner = createBaseOwnership({ db, log: pino({ level: 'silent' }), role: 'start', tickMs: 100 });
    await owner.start();
    try {
      await waitUntil(() => owner.owns('s1'), { what: 'the process to own s1' });
      const rows = await tableStatuses(db, NOW);
      for (const r of rows) {
        expect(r.owner).toMatchObject({
          process_id: owner.processId,
          host: hostname(),
          pid: process.pid,
          role: 'start',
        });
        expect(r.owner!.heartbeat_age_seconds).toBeGreaterThanOrEqual(0);
      }
      let json = '';
      await printStatus(db, { json: true, now: NOW, write: (s) => (json += s) });
      const parsed = JSON.parse(json);
      expect(parsed.processes).toEqual([
        expect.objectContaining({ process_id: owner.processId, alive: true, stopping: false, bases: ['s1'] }),
      ]);
      let text = '';
      await printStatus(db, { json: false, now: NOW, write: (s) => (text += s) });
      expect(text).toMatch(new RegExp(`shop\\.orders\\s.*\\s${hostname()}/${process.pid} \\(\\d`));
      expect(text).toContain(`PROCESSES\n  ${hostname()}/${process.pid}  start  alive  heartbeat `);
    } finally {
      await owner.stop();
    }
    // Gone: no owner, and its row is removed on a clean stop.
    expect((await tableStatuses(db, NOW)).every((r) => r.owner === null)).toBe(true);
    let json = '';
    await printStatus(db, { json: true, now: NOW, write: (s) => (json += s) });
    expect(JSON.parse(json).processes).toEqual([]);
  });
});

describe('airmirror status', () => {
  it('reads DATABASE_URL and prints the tables as JSON', async () => {
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    try {
      expect(await statusCommand.run(['--json'], { DATABASE_URL: url, AIRMIRROR_LOG_LEVEL: 'silent' })).toBe(
        0,
      );
    } finally {
      spy.mockRestore();
    }
    expect(JSON.parse(out).tables.map((t: { table: string }) => t.table)).toEqual([
      'Customers',
      'Drafts',
      'Orders',
    ]);
  });

  it('refuses unknown flags', async () => {
    await expect(statusCommand.run(['--yaml'], { DATABASE_URL: url })).rejects.toThrow(/yaml/);
  });
});
