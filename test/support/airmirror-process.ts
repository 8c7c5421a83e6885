/**
 * `airmirror start` as a child process against parts this process owns and can break: an
 * embedded Postgres of its own (stop and start it) and the emulator over HTTP (faults, rate
 * limits, edits made "in Airtable" through its control surface). The child can be killed with
 * SIGKILL and started again on the same port and data folder. Used by the end-to-end fault tests
 * and by bench/faults.ts; nothing here imports vitest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN, type Emulator } from '../../emulator/index.ts';
import { startEmulatorServer, type EmulatorServer } from '../../emulator/server.ts';
import { waitUntil } from './wait.ts';

const BIN = join(import.meta.dirname, '../../bin/airmirror.js');

export const SECRET_KEY = 'fault-suite-secret-key-0123456789abcdef';

export interface MirrorProcessOptions {
  /** Rows of the demo base's Orders table. */
  records?: number;
  /** The base's Postgres schema. */
  schema?: string;
  /** Extra environment of the child (AIRMIRROR_*). */
  env?: Record<string, string>;
  logLevel?: string;
}

export interface MirrorProcess {
  /** `http://127.0.0.1:<port>`: the API, /healthz, /metrics. The port stays across restarts. */
  url: string;
  /** Where apps send Airtable requests. */
  proxyUrl: string;
  baseId: string;
  token: string;
  schema: string;
  postgres: EmbeddedPostgresHandle;
  emulator: Emulator;
  emulatorUrl: string;
  /** The running child (replaced by `restart`). */
  child: ChildProcess;
  /** Everything the children wrote. */
  output: { stdout: string; stderr: string };
  /** Exits that nobody asked for (not `kill9` nor `stop`): the process must never exit by itself. */
  unexpectedExits: Array<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** A query on the mirror's Postgres (a pool of this process; errors while it is down reject). */
  query<T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]>;
  /** Management API call (JSON), as an operator's script would make it. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** SIGKILL, as a crash or an OOM kill: no cleanup of any kind. */
  kill9(): Promise<void>;
  /** Starts `airmirror start` again on the same port, data folder and Postgres. */
  restart(): Promise<void>;
  /** Runs another airmirror command (e.g. `verify --json`) with the same environment. */
  command(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export async function startMirrorProcess(opts: MirrorProcessOptions = {}): Promise<MirrorProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'airmirror-process-'));
  const postgres = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), durable: false });
  const emulator = createEmulator({ seed: 'demo', records: opts.records ?? 200 });
  const emuServer: EmulatorServer = await startEmulatorServer(emulator, { port: 0 });
  const port = await freePort();
  const schema = opts.schema ?? 'shop';
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AIRMIRROR_DATA_DIR: join(dir, 'data'),
    PORT: String(port),
    DATABASE_URL: postgres.url,
    AIRTABLE_API_URL: emuServer.url,
    AIRTABLE_TOKEN: EMULATOR_TOKEN,
    AIRTABLE_BASES: `${DEMO_BASE_ID}:${schema}`,
    AIRMIRROR_SECRET_KEY: SECRET_KEY,
    AIRMIRROR_LOG_LEVEL: opts.logLevel ?? 'info',
    ...opts.env,
  };
  const output = { stdout: '', stderr: '' };
  const unexpectedExits: MirrorProcess['unexpectedExits'] = [];
  const pool = new pg.Pool({ connectionString: postgres.url, max: 3, connectionTimeoutMillis: 2_000 });
  pool.on('error', () => undefined);
  pool.on('connect', (c) => c.on('error', () => undefined));
  const url = `http://127.0.0.1:${port}`;

  let child!: ChildProcess;
  const spawnChild = async () => {
    const c = spawn(process.execPath, [BIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const expected = { exit: false };
    c.stdout!.on('data', (d) => (output.stdout += d));
    c.stderr!.on('data', (d) => (output.stderr += d));
    c.on('exit', (code, signal) => {
      if (!expected.exit) unexpectedExits.push({ code, signal });
    });
    (c as ChildProcess & { expected?: { exit: boolean } }).expected = expected;
    child = c;
    handle.child = c;
    const bannerAt = output.stdout.length;
    await waitUntil(
      () => {
        if (c.exitCode !== null)
          throw new Error(`airmirror start exited (${c.exitCode}): ${output.stderr.slice(-2000)}`);
        return output.stdout.indexOf('Press Ctrl-C to stop.', bannerAt) >= 0;
      },
      { what: 'airmirror start to listen', timeoutMs: 60_000, intervalMs: 50 },
    );
  };
  const expectExit = (c: ChildProcess) => {
    (c as ChildProcess & { expected?: { exit: boolean } }).expected!.exit = true;
    return new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) resolve();
      else c.once('exit', () => resolve());
    });
  };

  const handle: MirrorProcess = {
    url,
    proxyUrl: `${url}/api.airtable.com`,
    baseId: DEMO_BASE_ID,
    token: EMULATOR_TOKEN,
    schema,
    postgres,
    emulator,
    emulatorUrl: emuServer.url,
    child: undefined as unknown as ChildProcess,
    output,
    unexpectedExits,
    async query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []) {
      return (await pool.query<T>(text, values)).rows;
    },
    async api(method, path, body) {
      const res = await fetch(`${url}/api${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null };
    },
    async kill9() {
      const exited = expectExit(child);
      child.kill('SIGKILL');
      await exited;
    },
    restart: spawnChild,
    async command(args) {
      const c = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout!.on('data', (d) => (stdout += d));
      c.stderr!.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => c.on('exit', (x) => resolve(x)));
      return { code, stdout, stderr };
    },
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = expectExit(child);
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(killer);
      }
      await pool.end().catch(() => undefined);
      await emuServer.close();
      await postgres.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await spawnChild();
  } catch (err) {
    await handle.stop().catch(() => undefined);
    throw err;
  }
  return handle;
}

/** Every table of the base by Airtable table name: its schema id (the API's), Airtable id and status. */
export async function tableStatuses(
  m: MirrorProcess,
): Promise<Map<string, { id: string; tableId: string; status: string | null }>> {
  const rows = await m.query<{ id: string; table_id: string; table_name: string; status: string | null }>(
    'SELECT id, table_id, table_name, status FROM airmirror.tables WHERE vanished_at IS NULL',
  );
  return new Map(rows.map((r) => [r.table_name, { id: r.id, tableId: r.table_id, status: r.status }]));
}

/** Waits until the base's tables have all completed a sync (the first one, or the one asked for). */
export async function waitForTables(
  m: MirrorProcess,
  what: string,
  ok: (statuses: Awaited<ReturnType<typeof tableStatuses>>) => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const exited = () => new Error(`airmirror exited: ${m.output.stderr.slice(-2000)}`);
  const r = await waitUntil(
    async () => {
      if (m.unexpectedExits.length > 0) return 'exited';
      const s = await tableStatuses(m);
      return s.size > 0 && ok(s);
    },
    { what, timeoutMs, intervalMs: 100, retryErrors: true },
  );
  if (r === 'exited') throw exited();
}
