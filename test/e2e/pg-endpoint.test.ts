/**
 * Issue 15 end to end: `airmirror start` (demo) prints a ready psql command for the Postgres
 * endpoint next to the one for Postgres itself, and the printed write runs through psql: the row
 * is in the emulator and in the mirror, while Postgres itself refuses the same write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../bin/airmirror.js');
const dataDir = mkdtempSync(join(tmpdir(), 'airmirror-pg-endpoint-'));
let child: ChildProcess;
let stdout = '';
let stderr = '';

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 45_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v as T;
    if (child.exitCode !== null) throw new Error(`airmirror exited (${child.exitCode}): ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}\nstdout: ${stdout}\nstderr: ${stderr}`);
}

function psql(
  url: string,
  command: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('psql', [url, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', command], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new Error('psql is not installed: this test needs the psql client') : e),
    );
    p.on('close', (status) => resolve({ status, stdout: out, stderr: err }));
  });
}

let postgresUrl = '';
let endpointUrl = '';

beforeAll(async () => {
  child = spawn(process.execPath, [BIN, 'start'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AIRMIRROR_DATA_DIR: dataDir,
      PORT: '0',
      AIRMIRROR_PG_PORT: '0',
      AIRMIRROR_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  await waitFor('the banner', () => stdout.includes('Press Ctrl-C to stop.'));
  postgresUrl = /postgres\s+psql "([^"]+)"/.exec(stdout)![1];
  endpointUrl = /endpoint\s+psql "([^"]+)"/.exec(stdout)![1];
  // The first sync builds the mirror tables.
  await waitFor('the first sync', async () => {
    const r = await psql(postgresUrl, `SELECT count(*) FROM airmirror.tables WHERE status = 'Completed'`);
    return r.stdout.trim() === '3' ? true : undefined;
  });
}, 90_000);

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('airmirror start: the Postgres endpoint', () => {
  it('prints a psql command for the endpoint next to the one for Postgres', () => {
    const pgUrl = new URL(postgresUrl);
    const epUrl = new URL(endpointUrl);
    expect(epUrl.username).toBe(pgUrl.username);
    expect(epUrl.password).toBe(pgUrl.password);
    expect(epUrl.pathname).toBe(pgUrl.pathname);
    expect(epUrl.port).not.toBe(pgUrl.port);
    expect(stdout).toContain(`psql "${endpointUrl}" \\`);
  });

  it('the printed write works through psql; Postgres itself refuses it', async () => {
    const ins = await psql(endpointUrl, `insert into customers (name) values ('Ada Lovelace') returning id`);
    expect(ins.stderr).toBe('');
    const id = ins.stdout.trim().split('\n')[0];
    expect(id).toMatch(/^rec\w{14}$/);
    const printed = /-c "(update customers[^"]+)"/.exec(stdout)![1];
    const upd = await psql(endpointUrl, printed);
    expect(upd.stderr).toBe('');
    expect(upd.stdout).toContain(`${id}|Gold|`);
    const c = new pg.Client(postgresUrl);
    await c.connect();
    try {
      expect((await c.query('SELECT tier FROM customers WHERE id = $1', [id])).rows).toEqual([
        { tier: 'Gold' },
      ]);
      const outbox = await c.query(`SELECT DISTINCT origin FROM airmirror.outbox WHERE record_id = $1`, [id]);
      expect(outbox.rows).toEqual([{ origin: 'sql' }]);
    } finally {
      await c.end();
    }
    const direct = await psql(postgresUrl, `update customers set tier = 'Silver' where id = '${id}'`);
    expect(direct.status).toBe(1);
    expect(direct.stderr).toContain('bypasses airmirror');
  });
});
