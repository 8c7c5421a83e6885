/**
 * The package's bin runs the build (dist/, made by scripts/build.mjs: `npm ci` runs it through
 * `prepare`, and this test run's global setup ran it from the sources as they are): commands
 * answer from the bundle, the sync types are in it, and `status` loads none of the proxy, the
 * syncer or the emulator (what keeps a cron job's `airmirror status` fast; bench/cli-start.ts
 * measures the time).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { startEmulatorServer, type EmulatorServer } from '../../emulator/server.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'airmirror.js');
const DIST = join(ROOT, 'dist');

let t: TestDatabase;
let server: EmulatorServer;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestDatabase();
  server = await startEmulatorServer(createEmulator({ records: 120 }), { port: 0 });
  env = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: t.url,
    AIRTABLE_API_URL: server.url,
    AIRTABLE_BASES: `${DEMO_BASE_ID}:built`,
    AIRTABLE_TOKEN: EMULATOR_TOKEN,
    AIRMIRROR_SECRET_KEY: 'a-secret-key-for-the-built-cli-run-0123456789',
    AIRMIRROR_LOG_LEVEL: 'warn',
    AIRMIRROR_RATE_LIMIT: '1000',
  };
});

afterAll(async () => {
  await server?.close();
});

/** Runs `node bin/airmirror.js …` as a process of its own (never through tsx). */
function airmirror(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the built CLI (bin → dist)', () => {
  it('runs from dist/, not from the TypeScript sources', () => {
    const bin = readFileSync(BIN, 'utf8');
    expect(bin).toContain('../dist/cli.js');
    expect(bin).not.toMatch(/['"]tsx/);
  });

  it('prints its usage and exits 2 without a command, 0 with --help', async () => {
    const bare = await airmirror([]);
    expect(bare.code).toBe(2);
    const help = await airmirror(['--help']);
    expect(help.code).toBe(0);
    for (const name of ['start', 'sync', 'status', 'verify', 'emulator']) expect(help.stdout).toContain(name);
    const bad = await airmirror(['status', '--colour']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')[0]).toMatch(/^airmirror status: .*colour/);
  });

  it('syncs once, with every sync type in the bundle, and status reads the result', async () => {
    const empty = await airmirror(['status', '--json']);
    expect(empty.code).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual({ tables: [], sources: [], processes: [], quota: [] });

    const first = await airmirror(['sync', '--once', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).ok).toBe(true);

    // Orders on the incremental sync type (its lastModifiedTime field): a strategy the bundle
    // must carry (it was once found by file name at run time, which a bundle has no file for).
    const field = await t.db.query<{ field_id: string }>(
      sql(
        `SELECT c.field_id FROM airmirror.columns c JOIN airmirror.tables t
           ON t.source_id = c.source_id AND t.table_id = c.table_id
         WHERE t.mirror_table = 'orders' AND c.airtable_type = 'lastModifiedTime'`,
      ),
    );
    await t.db.query(
      sql(
        `UPDATE airmirror.tables SET sync_type = 'incremental', incremental_field = $1,
           incremental_field_type = 'lastModifiedTime' WHERE mirror_table = 'orders'`,
        [field.rows[0].field_id],
      ),
    );
    const second = await airmirror(['sync', '--once', '--json']);
    expect(second.code, second.stderr).toBe(0);
    const orders = JSON.parse(second.stdout).sources[0].tables.find(
      (x: { mirror_table: string }) => x.mirror_table === 'orders',
    );
    expect(orders).toMatchObject({ status: 'Completed', error: null });

    const status = await airmirror(['status', '--json']);
    expect(status.code).toBe(0);
    const byTable = Object.fromEntries(
      JSON.parse(status.stdout).tables.map((x: { mirror_table: string }) => [x.mirror_table, x]),
    );
    expect(byTable['built.orders']).toMatchObject({
      sync_type: 'incremental',
      status: 'Completed',
      rows: 120,
    });
    expect(Object.keys(byTable).sort()).toEqual(['built.customers', 'built.orders', 'built.products']);
    // The calls of both syncs, counted in Postgres under the token's key (never the token).
    const [quota, ...others] = JSON.parse(status.stdout).quota;
    expect(others).toEqual([]);
    expect(quota.month_to_date).toBeGreaterThan(0);
    expect(status.stdout).not.toContain(EMULATOR_TOKEN);
  });

  it('status loads only what it needs: no proxy, syncer or emulator module', () => {
    const chunks = join(DIST, 'chunks');
    const statusChunk = readdirSync(chunks).find((f) => /^status-.*\.js$/.test(f));
    expect(statusChunk).toBeDefined();
    // Every chunk status imports, statically and transitively (dynamic imports load on demand).
    const loaded = new Set<string>();
    const visit = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      const text = readFileSync(join(chunks, file), 'utf8');
      for (const m of text.matchAll(/^import\s[^;]*?from\s*"\.\/([^"]+)"/gm)) visit(m[1]);
    };
    visit(statusChunk!);
    // esbuild heads each module's code with a comment naming its source file.
    const sources = [...loaded].flatMap((f) =>
      [
        ...readFileSync(join(chunks, f), 'utf8').matchAll(/^\/\/ ((?:src|sync|proxy|emulator)\/\S+\.ts)$/gm),
      ].map((m) => m[1]),
    );
    expect(sources).toContain('src/commands/status.ts');
    expect(sources).toContain('src/api/status.ts');
    expect(sources.filter((s) => /^(proxy|sync|emulator)\//.test(s))).toEqual([]);
    expect(sources).not.toContain('src/node.ts');
    expect(sources).not.toContain('src/db/embedded.ts');
    // Nor the HTTP framework or the request schemas (the quota's routes once brought both: ~50 ms).
    const packages = new Set(
      [...loaded].flatMap((f) =>
        [...readFileSync(join(chunks, f), 'utf8').matchAll(/^import\s[^;]*?from\s*"([^".][^"]*)"/gm)].map(
          (m) => m[1],
        ),
      ),
    );
    expect(packages).toContain('pg');
    expect([...packages].filter((p) => /^(hono|zod)(\/|$)/.test(p))).toEqual([]);
  });
});
