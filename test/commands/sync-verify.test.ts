import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tokenKeyOf } from '../../src/airtable/token-key.ts';
import { sql } from '../../src/db/sql.ts';
import { syncCommand } from '../../src/commands/sync.ts';
import { verifyCommand } from '../../src/commands/verify.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { startEmulatorServer, type EmulatorServer } from '../../emulator/server.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';
import { createBaseOwnership } from '../../sync/ownership.ts';
import pino from 'pino';

/** `airmirror sync --once [--json]` and `airmirror verify [--json]` against the emulator over HTTP. */
let t: TestDatabase;
let server: EmulatorServer;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestDatabase();
  server = await startEmulatorServer(createEmulator({ records: 60 }), { port: 0 });
  env = {
    DATABASE_URL: t.url,
    AIRTABLE_API_URL: server.url,
    AIRTABLE_BASES: `${DEMO_BASE_ID}:cli_mirror`,
    AIRTABLE_TOKEN: EMULATOR_TOKEN,
    AIRMIRROR_SECRET_KEY: 'a-secret-key-for-tests-only-0123456789',
    AIRMIRROR_LOG_LEVEL: 'silent',
    // the emulator is local: no need to pace at Airtable's 5 requests/s in this test
    AIRMIRROR_RATE_LIMIT: '1000',
  };
});

afterAll(async () => {
  await server?.close();
});

async function run(cmd: typeof syncCommand, argv: string[], e: Record<string, string> = env) {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const w = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const code = await cmd.run(argv, e);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    w.mockRestore();
  }
}

describe('airmirror sync --once', () => {
  it('syncs every configured table, prints a JSON summary and exits 0', async () => {
    const r = await run(syncCommand, ['--once', '--json']);
    expect(r.code).toBe(0);
    // Not a TTY here: progress is plain lines on stderr, one per finished table, no escapes.
    const lines = r.stderr.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0]).sort()).toEqual(['customers', 'orders', 'products']);
    expect(lines.find((l) => l.startsWith('orders'))).toMatch(/^orders\s+done {2}60 records in [\d.]+ s/);
    expect(r.stderr).not.toContain('\x1b');
    const summary = JSON.parse(r.stdout);
    expect(summary.ok).toBe(true);
    expect(summary.sources).toHaveLength(1);
    expect(summary.sources[0]).toMatchObject({
      base_id: DEMO_BASE_ID,
      schema: 'cli_mirror',
      rebuilt: true,
      error: null,
    });
    const orders = summary.sources[0].tables.find((x: { table_name: string }) => x.table_name === 'Orders');
    expect(orders).toMatchObject({
      status: 'Completed',
      records_seen: 60,
      records_inserted: 60,
      mirror_table: 'orders',
    });
    const n = await t.db.query(sql('SELECT count(*)::int AS n FROM cli_mirror.orders'));
    expect(n.rows[0].n).toBe(60);
    // the token is kept in memory only
    const src = await t.db.query(
      sql('SELECT token_encrypted FROM airmirror.sources WHERE base_id = $1', [DEMO_BASE_ID]),
    );
    expect(src.rows[0].token_encrypted).toBeNull();
    // …and known by its key, which `status` shows the monthly quota by (as `start` records it).
    const keys = await t.db.query(
      sql(
        `SELECT k.token_key FROM airmirror.source_token_keys k JOIN airmirror.sources s ON s.id = k.source_id
          WHERE s.base_id = $1`,
        [DEMO_BASE_ID],
      ),
    );
    expect(keys.rows).toEqual([{ token_key: tokenKeyOf(EMULATOR_TOKEN) }]);
  });

  it('requires --once and refuses unknown flags', async () => {
    await expect(run(syncCommand, [])).rejects.toThrow(/--once/);
    await expect(run(syncCommand, ['--once', '--bogus'])).rejects.toThrow(/bogus/);
  });

  it('exits non-zero with the error on one line when Airtable refuses', async () => {
    const r = await run(syncCommand, ['--once'], {
      ...env,
      AIRTABLE_TOKEN: 'patWrong0000000001.' + '0'.repeat(64),
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^airmirror sync: .*(UNAUTHORIZED|AUTHENTICATION)/);
    expect(r.stderr).not.toContain('patWrong');
  });
});

describe('airmirror verify', () => {
  it('reports no drift after a sync (exit 0)', async () => {
    await run(syncCommand, ['--once']);
    const r = await run(verifyCommand, ['--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, drift: 0 });
    expect(report.sources[0].tables.map((x: { tableName: string }) => x.tableName).sort()).toEqual([
      'Customers',
      'Orders',
      'Products',
    ]);
  });

  it('reports missing / extra / different with examples and exits 1', async () => {
    const col = await t.db.query<{ column_name: string }>(
      sql(`SELECT column_name FROM airmirror.columns WHERE field_name = 'Notes' AND table_id IN
             (SELECT table_id FROM airmirror.tables WHERE table_name = 'Orders')`),
    );
    const notes = col.rows[0].column_name;
    const ids = (
      await t.db.query<{ id: string }>(sql('SELECT id FROM cli_mirror.orders ORDER BY id LIMIT 2'))
    ).rows.map((r) => r.id);
    await t.db.query(sql(`UPDATE cli_mirror.orders SET "${notes}" = 'tampered' WHERE id = $1`, [ids[0]]));
    await t.db.query(sql('DELETE FROM cli_mirror.orders WHERE id = $1', [ids[1]]));
    await t.db.query(
      sql(`INSERT INTO cli_mirror.orders (id, created_time) VALUES ('recNotInAirtable1', now())`),
    );
    const r = await run(verifyCommand, []);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('missing 1, extra 1, different 1');
    expect(r.stdout).toContain(`missing: ${ids[1]}`);
    expect(r.stdout).toContain('extra: recNotInAirtable1');
    expect(r.stdout).toContain(`different: ${ids[0]} (${notes})`);
  });
});

describe('airmirror sync --once beside a running airmirror start', () => {
  it('skips the bases the running process owns, says which, and runs no table of theirs', async () => {
    const db = t.db;
    const start = createBaseOwnership({ db, log: pino({ level: 'silent' }), role: 'start', tickMs: 100 });
    await start.start();
    try {
      await waitUntil(() => start.owns(DEMO_BASE_ID), { what: 'the start process to own the base' });
      const runs = async () =>
        (await db.query<{ n: number }>(sql('SELECT count(*)::int AS n FROM airmirror.sync_runs'))).rows[0].n;
      const before = await runs();
      const r = await run(syncCommand, ['--once', '--json']);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(
        `airmirror sync: skipped base ${DEMO_BASE_ID}: owned by another process (start on`,
      );
      expect(r.stderr).toContain(`pid ${process.pid}`);
      const summary = JSON.parse(r.stdout);
      expect(summary.sources[0].skipped).toMatch(/owned by another process/);
      expect(summary.sources[0].tables).toEqual([]);
      expect(await runs()).toBe(before);
    } finally {
      await start.stop();
    }
    // Once it is gone, sync --once takes the base and syncs it.
    const again = await run(syncCommand, ['--once', '--json']);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout);
    expect(summary.sources[0].skipped).toBeNull();
    expect(summary.sources[0].tables.every((x: { status: string }) => x.status === 'Completed')).toBe(true);
  });
});
