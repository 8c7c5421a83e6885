/**
 * `airmirror start` configured for a "real" base (issue 7): AIRTABLE_API_URL points at the
 * emulator run as its own process (`airmirror emulator`), with AIRTABLE_TOKEN, AIRTABLE_BASES
 * and AIRMIRROR_SECRET_KEY set — no demo emulator inside, the base's tables in the named schema.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../support/wait.ts';

const BIN = join(import.meta.dirname, '../../bin/airmirror.js');
const dataDir = mkdtempSync(join(tmpdir(), 'airmirror-configured-'));
const children: ChildProcess[] = [];

function run(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AIRMIRROR_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += d));
  child.stderr!.on('data', (d) => (out.stderr += d));
  return { child, out };
}

const until = <T>(what: string, fn: () => T | Promise<T>, ms = 45_000) =>
  waitUntil(fn, { what, timeoutMs: ms, intervalMs: 100 });

let emulatorUrl = '';
let token = '';
let baseId = '';
let start: ReturnType<typeof run>;
let databaseUrl = '';

beforeAll(async () => {
  const emu = run(['emulator', '--port', '0', '--records', '250'], {});
  await until('the emulator', () => emu.out.stdout.includes('base:'));
  emulatorUrl = /listening on (\S+)/.exec(emu.out.stdout)![1];
  token = /token:\s+(\S+)/.exec(emu.out.stdout)![1];
  baseId = /base:\s+(app\w{14})/.exec(emu.out.stdout)![1];
  start = run(['start'], {
    AIRMIRROR_DATA_DIR: dataDir,
    PORT: '0',
    AIRTABLE_API_URL: emulatorUrl,
    AIRTABLE_TOKEN: token,
    AIRTABLE_BASES: `${baseId}:shop`,
    AIRMIRROR_SECRET_KEY: 'a-long-enough-secret-key-for-tests',
  });
  await until('the banner', () => start.out.stdout.includes('Press Ctrl-C'));
  databaseUrl = /psql "([^"]+)"/.exec(start.out.stdout)![1];
}, 90_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('airmirror start with a configured base', () => {
  it('names the upstream instead of a demo emulator', () => {
    expect(start.out.stdout).toContain(`upstream     ${emulatorUrl}`);
    expect(start.out.stdout).not.toContain('demo base');
  });

  it('mirrors the base into the configured schema', async () => {
    const c = new pg.Client(databaseUrl);
    await c.connect();
    try {
      const n = await until('the first sync', async () => {
        const r = await c
          .query<{ n: string }>('SELECT count(*)::text AS n FROM shop.orders')
          .catch(() => undefined);
        return r && Number(r.rows[0].n) === 250 ? 250 : undefined;
      });
      expect(n).toBe(250);
      const tables = await c.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'shop' ORDER BY 1`,
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(['customers', 'orders', 'products']);
    } finally {
      await c.end();
    }
  });

  it('keeps the token out of the database and the logs', async () => {
    const c = new pg.Client(databaseUrl);
    await c.connect();
    try {
      const r = await c.query(`SELECT token_encrypted FROM airmirror.sources WHERE base_id = $1`, [baseId]);
      expect(r.rows).toEqual([{ token_encrypted: null }]);
    } finally {
      await c.end();
    }
    expect(start.out.stderr).not.toContain(token);
    expect(start.out.stdout).not.toContain(token);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => start.child.once('exit', (code) => r(code)));
    start.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
