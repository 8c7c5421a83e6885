/**
 * Issue 15 with the real psql (spawned; CI's image has it, and a missing psql fails this file
 * with a clear message rather than skipping it): writes with RETURNING, errors as psql shows them,
 * COPY out, multi-statement strings, SSL.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { sql } from '../../../src/db/sql.ts';
import { startSecondEndpoint, TLS, usePgEndpoint } from './harness.ts';

const s = usePgEndpoint();

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** psql with `args` (never spawnSync: the endpoint answers from this very process). */
function psql(url: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [url, '-X', '-v', 'ON_ERROR_STOP=1', ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PGCONNECT_TIMEOUT: '10' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error(
              'psql is not installed: the Postgres endpoint tests need the psql client (postgresql-client)',
            )
          : err,
      ),
    );
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const fieldId = (table: string, column: string) =>
  s.table(table).columns.find((c) => c.column === column)!.fieldId;

describe('psql', () => {
  it('INSERT, UPDATE and DELETE with RETURNING', async () => {
    const ins = await psql(
      s.endpointUrl,
      '-At',
      '-c',
      `INSERT INTO customers (name, email) VALUES ('Grace', 'grace@example.com') RETURNING id, name`,
    );
    expect(ins.stderr).toBe('');
    expect(ins.status).toBe(0);
    const lines = ins.stdout.trim().split('\n');
    expect(lines[1]).toBe('INSERT 0 1');
    const [id, name] = lines[0].split('|');
    expect(name).toBe('Grace');
    expect((await s.airtable('Customers', id))!.fields[fieldId('customers', 'email')]).toBe(
      'grace@example.com',
    );

    const upd = await psql(s.endpointUrl, '-c', `UPDATE customers SET tier = 'Gold' WHERE id = '${id}'`);
    expect(upd.stdout.trim()).toBe('UPDATE 1');
    expect((await s.mirror('customers', id))!.tier).toBe('Gold');

    const del = await psql(
      s.endpointUrl,
      '-At',
      '-c',
      `DELETE FROM customers WHERE id = '${id}' RETURNING name`,
    );
    expect(del.stdout.trim().split('\n')).toEqual(['Grace', 'DELETE 1']);
    expect(await s.airtable('Customers', id)).toBeUndefined();
    expect(await s.mirror('customers', id)).toBeUndefined();
  });

  it('shows Airtable’s refusal as a Postgres error with its detail and hint', async () => {
    const id = (await s.db.query<{ id: string }>(sql('SELECT id FROM customers ORDER BY id LIMIT 1'))).rows[0]
      .id;
    const r = await psql(s.endpointUrl, '-c', `UPDATE customers SET tier = 'Diamond' WHERE id = '${id}'`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('ERROR:  invalid value for column "tier" (Airtable refused the update)');
    expect(r.stderr).toContain('DETAIL:  Airtable: INVALID_MULTIPLE_CHOICE_OPTIONS');
    expect(r.stderr).toContain('HINT:  Use an existing option');
  });

  it('COPY out, and \\copy, pass through', async () => {
    const q = 'SELECT id, name, tags FROM customers ORDER BY id';
    const viaEndpoint = await psql(s.endpointUrl, '-c', `COPY (${q}) TO STDOUT WITH (FORMAT csv)`);
    const direct = await psql(s.directUrl, '-c', `COPY (${q}) TO STDOUT WITH (FORMAT csv)`);
    expect(viaEndpoint.status).toBe(0);
    expect(viaEndpoint.stdout).toBe(direct.stdout);
    expect(viaEndpoint.stdout.split('\n').length).toBeGreaterThan(5);
    const meta = await psql(s.endpointUrl, '-c', '\\copy customers (id, name) to stdout');
    expect(meta.status).toBe(0);
    expect(meta.stdout.trim().split('\n').length).toBe(viaEndpoint.stdout.trim().split('\n').length);
  });

  it('a query string with a write and reads runs statement by statement', async () => {
    const id = (await s.db.query<{ id: string }>(sql('SELECT id FROM products ORDER BY id LIMIT 1'))).rows[0]
      .id;
    const r = await psql(
      s.endpointUrl,
      '-At',
      '-c',
      `SELECT 'before'; UPDATE products SET stock = 42 WHERE id = '${id}' RETURNING stock; SELECT stock FROM products WHERE id = '${id}'`,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['before', '42', 'UPDATE 1', '42']);
    expect((await s.airtable('Products', id))!.fields[fieldId('products', 'stock')]).toBe(42);
  });

  it('SQL-level PREPARE and EXECUTE of a write', async () => {
    const id = (await s.db.query<{ id: string }>(sql('SELECT id FROM products ORDER BY id LIMIT 1'))).rows[0]
      .id;
    const r = await psql(
      s.endpointUrl,
      '-At',
      '-c',
      'PREPARE set_stock(text, numeric) AS UPDATE products SET stock = $2 WHERE id = $1 RETURNING stock',
      '-c',
      `EXECUTE set_stock('${id}', 7)`,
      '-c',
      `EXECUTE set_stock('${id}', 8)`,
      '-c',
      'DEALLOCATE set_stock',
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['PREPARE', '7', 'UPDATE 1', '8', 'UPDATE 1', 'DEALLOCATE']);
    expect((await s.airtable('Products', id))!.fields[fieldId('products', 'stock')]).toBe(8);
    expect((await s.mirror('products', id))!.stock).toBe('8');
  });

  it('connects with sslmode=require to an endpoint with a certificate', async () => {
    const ep = await startSecondEndpoint(s, { tls: TLS });
    try {
      const u = new URL(ep.url);
      u.searchParams.set('sslmode', 'require');
      const r = await psql(u.toString(), '-c', '\\conninfo');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/SSL connection \(protocol: TLS/);
    } finally {
      await ep.close();
    }
  });

  it('psql against Postgres itself cannot write a mirror table (the guard)', async () => {
    const r = await psql(s.directUrl, '-c', `UPDATE customers SET name = 'direct'`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('ERROR:  UPDATE on mirror table public.customers bypasses airmirror');
    const c = await s.connect(s.directUrl);
    const n = await c.query(`SELECT count(*)::int AS n FROM customers WHERE name = 'direct'`);
    expect(n.rows[0].n).toBe(0);
  });
});
