/**
 * The newcomer's path (issue 7): `airmirror start` with no configuration, as a child process with
 * its own data folder — embedded Postgres, the emulator's demo base, the first sync at once —
 * then a write through the proxy that SQL sees, status and metrics, and logs without secrets.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../support/wait.ts';

const BIN = join(import.meta.dirname, '../../bin/airmirror.js');
const dataDir = mkdtempSync(join(tmpdir(), 'airmirror-demo-'));
let child: ChildProcess;
let stdout = '';
let stderr = '';
let proxyUrl = '';
let serverUrl = '';
let databaseUrl = '';
let token = '';
let baseId = '';
let emulatorUrl = '';

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // A clean environment: nothing of the developer's own airmirror configuration leaks in.
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return { ...base, AIRMIRROR_DATA_DIR: dataDir, PORT: '0', AIRMIRROR_LOG_LEVEL: 'info', ...extra };
}

/** waitUntil, failing at once if airmirror exits, and with its output when it gives up. */
async function waitFor<T>(what: string, fn: () => T | Promise<T>, ms = 45_000) {
  try {
    return await waitUntil(
      async () => {
        const v = await fn();
        if (v === undefined || v === null || v === false) {
          if (child.exitCode !== null) throw new Error(`airmirror exited (${child.exitCode}): ${stderr}`);
        }
        return v;
      },
      { what, timeoutMs: ms, intervalMs: 100 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
}

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client(databaseUrl);
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  child = spawn(process.execPath, [BIN, 'start'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  await waitFor('the banner', () => stdout.includes('Press Ctrl-C to stop.'));
  proxyUrl = /proxy\s+(\S+)/.exec(stdout)![1];
  serverUrl = proxyUrl.replace(/\/api\.airtable\.com$/, '');
  databaseUrl = /psql "([^"]+)"/.exec(stdout)![1];
  token = /Bearer (\S+)'/.exec(stdout)![1];
  baseId = /demo base (app\w{14})/.exec(stdout)![1];
  emulatorUrl = /emulator\s+(\S+)/.exec(stdout)![1];
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('airmirror start (demo)', () => {
  it('prints the proxy, management and psql addresses and an example write', () => {
    expect(proxyUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\.airtable\.com$/);
    expect(stdout).toContain(`${serverUrl}/api`);
    expect(databaseUrl).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
    expect(stdout).toContain(`curl -X POST '${proxyUrl}/v0/${baseId}/Customers'`);
    expect(stdout).toContain(`endpointUrl: '${proxyUrl}'`);
  });

  it('runs the first sync at once: every demo table is mirrored', async () => {
    const tables = await waitFor('the first sync', async () => {
      const rows = await sql<{ mirror_table: string; status: string; row_count: number }>(
        `SELECT mirror_table, status, row_count FROM airmirror.tables ORDER BY mirror_table`,
      ).catch(() => []);
      return rows.length >= 3 && rows.every((r) => r.status === 'Completed') ? rows : undefined;
    });
    expect(tables.map((t) => t.mirror_table)).toEqual(['customers', 'orders', 'products']);
    const [{ n }] = await sql<{ n: string }>('SELECT count(*) AS n FROM public.customers');
    expect(Number(n)).toBe(Number(tables.find((t) => t.mirror_table === 'customers')!.row_count));
    expect(Number(n)).toBeGreaterThan(0);
  });

  it('serves a write through the proxy that SQL sees as soon as the answer arrives', async () => {
    const res = await fetch(`${proxyUrl}/v0/${baseId}/Customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fields: { Name: 'Ada Lovelace' } }),
    });
    expect(res.status).toBe(200);
    const created = (await res.json()) as { id: string; fields: { Name: string } };
    expect(created.fields.Name).toBe('Ada Lovelace');
    const rows = await sql<{ name: string }>('SELECT name FROM public.customers WHERE id = $1', [created.id]);
    expect(rows).toEqual([{ name: 'Ada Lovelace' }]);
  });

  it('follows a change made in Airtable itself (not through the proxy) through the demo base webhook', async () => {
    const webhooks = await waitFor('the demo webhook', async () => {
      const rows = await sql<{ status: string }>('SELECT status FROM airmirror.webhooks').catch(() => []);
      return rows.length === 1 && rows[0].status === 'active' ? rows : undefined;
    });
    expect(webhooks).toHaveLength(1);
    const types = await sql<{ sync_type: string }>('SELECT DISTINCT sync_type FROM airmirror.tables');
    expect(types).toEqual([{ sync_type: 'webhook' }]);
    // Straight to the emulator: only its webhook ping can tell airmirror about this record.
    const res = await fetch(`${emulatorUrl}/v0/${baseId}/Customers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fields: { Name: 'Grace Hopper' } }),
    });
    expect(res.status).toBe(200);
    const created = (await res.json()) as { id: string };
    const rows = await waitFor('the webhook-driven fetch', async () => {
      const r = await sql<{ name: string }>('SELECT name FROM public.customers WHERE id = $1', [created.id]);
      return r.length > 0 ? r : undefined;
    });
    expect(rows).toEqual([{ name: 'Grace Hopper' }]);
  });

  it('reports status and metrics', async () => {
    const status = (await (await fetch(`${serverUrl}/api/status`)).json()) as {
      tables: Array<{ mirror_table: string; status: string; rows: number; lag_seconds: number | null }>;
    };
    expect(status.tables.map((t) => t.mirror_table).sort()).toEqual([
      'public.customers',
      'public.orders',
      'public.products',
    ]);
    for (const t of status.tables) expect(t.status).toBe('Completed');

    const cli = spawnSync(process.execPath, [BIN, 'status', '--json'], {
      env: env({ DATABASE_URL: databaseUrl }),
      encoding: 'utf8',
    });
    expect(cli.status).toBe(0);
    const cliStatus = JSON.parse(cli.stdout) as {
      tables: Array<{ rows: number; lag_seconds: number | null }>;
    };
    expect(cliStatus.tables).toHaveLength(3);
    for (const t of cliStatus.tables) expect(t.lag_seconds).not.toBeNull();

    const metrics = await (await fetch(`${serverUrl}/metrics`)).text();
    expect(metrics).toMatch(/airmirror_proxy_requests_total\{method="POST",status="200"\} [1-9]/);
    expect(metrics).toMatch(/airmirror_proxy_upstream_seconds_count\{method="POST"\} [1-9]/);
    expect(metrics).toMatch(/airmirror_records_total\{table="customers",action="upserted"\} [1-9]/);
    expect(metrics).toMatch(/airmirror_table_lag_seconds\{source="\w+",table="customers"\} \d/);
    expect(metrics).toMatch(/airmirror_outbox_depth \d/);
    expect(metrics).toMatch(/airmirror_mirror_apply_seconds_count\{origin="proxy"\} [1-9]/);
    expect(metrics).toMatch(/airmirror_airtable_requests_total\{status="200"\} [1-9]/);
    expect(metrics).toContain('# TYPE airmirror_rate_budget_waits_total counter');
    expect(metrics).toContain('# TYPE airmirror_rate_budget_token_waits_total counter');
    expect(metrics).toContain('# TYPE airmirror_airtable_429_total counter');
    expect(metrics).toContain('# TYPE airmirror_event_delivery_failures_total counter');
    expect(metrics).toMatch(/airmirror_sync_runs_total\{status="Completed"\} [1-9]/);
  });

  it('logs one line per sync run and never a secret', () => {
    const lines = stderr.trim().split('\n').filter(Boolean);
    const runs = lines
      .map((l) => JSON.parse(l) as { msg: string; table?: string })
      .filter((l) => l.msg === 'sync run');
    expect(runs.map((r) => r.table).sort()).toEqual(
      expect.arrayContaining(['customers', 'orders', 'products']),
    );
    const password = decodeURIComponent(new URL(databaseUrl).password);
    expect(stderr).not.toContain(token);
    expect(stderr).not.toContain(password);
  });

  it('stops everything cleanly on Ctrl-C (SIGINT)', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toContain('stopped.');
    // Postgres was stopped too: its port no longer answers.
    await expect(sql('SELECT 1')).rejects.toThrow();
  });
});
