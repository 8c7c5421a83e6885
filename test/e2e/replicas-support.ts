/**
 * Several `airmirror start` processes on one Postgres (docs/ownership.md), as an operator runs
 * them: child processes on this test file's database, against an emulator served over HTTP from
 * this process — with three bases, a call log to count listings, and a gate that holds a table's
 * listing mid-way so a replica can be killed in the middle of a sweep or a rebuild.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN, type Emulator } from '../../emulator/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';

const BIN = join(import.meta.dirname, '../../bin/airmirror.js');
export const SECRET_KEY = 'a-long-enough-secret-key-for-replica-tests';
export const BASES = { shop: DEMO_BASE_ID, b2: 'appReplicaBase002', b3: 'appReplicaBase003' } as const;
/** Records per table (the demo base's Orders, and each extra base's Items / Notes). */
export const SIZES = { orders: 400, items: 250, notes: 60 };

/** A held listing: `reached` once a request past `afterPages` pages is held, `release()` lets all go. */
export interface ListingGate {
  reached: Promise<void>;
  release(): void;
}

export interface Upstream {
  url: string;
  emulator: Emulator;
  /** Holds listings of `tableId` after `afterPages` pages have been served (from now on). */
  holdListing(tableId: string, afterPages: number): ListingGate;
  /** GET list calls of a table so far, from the emulator's call log. */
  listCalls(baseId: string, tableId: string): number;
  tableId(baseId: string, name: string): string;
  close(): Promise<void>;
}

/**
 * The emulator with the demo base and two more, over HTTP through a gate this test controls.
 * `rateLimit`: Airtable's per-base limit (with its 30-s penalty), or none.
 */
export async function startUpstream(opts: { rateLimit?: number | false } = {}): Promise<Upstream> {
  const emulator = createEmulator({ records: SIZES.orders, callLogLimit: 100_000 });
  for (const baseId of [BASES.b2, BASES.b3]) addBase(emulator, baseId);
  let gate: { tableId: string; left: number; hit: () => void; open: Promise<void> } | undefined;
  const server = await new Promise<{ url: string; close(): Promise<void> }>((resolve) => {
    const s = serve(
      {
        port: 0,
        hostname: '127.0.0.1',
        fetch: async (req) => {
          const g = gate;
          const path = new URL(req.url).pathname;
          if (g && req.method === 'GET' && path.endsWith(`/${g.tableId}`)) {
            if (g.left-- <= 0) {
              g.hit();
              await g.open;
            }
          }
          return emulator.app.fetch(req);
        },
      },
      (info: AddressInfo) =>
        resolve({
          url: `http://127.0.0.1:${info.port}`,
          close: () =>
            new Promise<void>((done) => {
              (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
              s.close(() => done());
            }),
        }),
    );
  });
  // Set after the bases were made (through the control surface, which the limit does not count).
  emulator.control.setRateLimit(opts.rateLimit ?? false);
  const tableIds = new Map<string, string>();
  for (const baseId of Object.values(BASES)) {
    for (const t of emulator.store.requireBase(baseId).tables) tableIds.set(`${baseId}/${t.name}`, t.id);
  }
  return {
    url: server.url,
    emulator,
    holdListing(tableId, afterPages) {
      let hit!: () => void;
      let open!: () => void;
      const reached = new Promise<void>((r) => (hit = r));
      const opened = new Promise<void>((r) => (open = r));
      gate = { tableId, left: afterPages, hit, open: opened };
      return {
        reached,
        release() {
          gate = undefined;
          open();
        },
      };
    },
    listCalls: (baseId, tableId) =>
      emulator.control.calls({ method: 'GET', baseId }).filter((c) => c.path === `/v0/${baseId}/${tableId}`)
        .length,
    tableId(baseId, name) {
      const id = tableIds.get(`${baseId}/${name}`);
      if (!id) throw new Error(`no table ${name} in ${baseId}`);
      return id;
    },
    close: () => server.close(),
  };
}

/** A base of two tables, Items and Notes, made through the emulator's own store and control. */
function addBase(emulator: Emulator, baseId: string): void {
  emulator.store.addBase({
    id: baseId,
    name: `Replica base ${baseId}`,
    permissionLevel: 'create',
    tables: [],
    collaborators: [{ id: 'usrReplicaOwner01', email: 'owner@example.com', name: 'Base Owner' }],
  });
  const c = emulator.control;
  c.createTable(baseId, {
    name: 'Items',
    fields: [
      { name: 'Name', type: 'singleLineText' },
      { name: 'Qty', type: 'number', options: { precision: 0 } },
    ],
  });
  c.createTable(baseId, { name: 'Notes', fields: [{ name: 'Text', type: 'multilineText' }] });
  for (const [table, n] of [
    ['Items', SIZES.items],
    ['Notes', SIZES.notes],
  ] as const) {
    for (let i = 0; i < n; i += 10) {
      const batch = Array.from({ length: Math.min(10, n - i) }, (_, k) =>
        table === 'Items'
          ? { fields: { Name: `${baseId} item ${i + k}`, Qty: i + k } }
          : { fields: { Text: `note ${i + k} of ${baseId}` } },
      );
      c.createRecords(baseId, table, batch);
    }
  }
}

export interface Replica {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:port — the API at `${url}/api`. */
  url: string;
  out: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/** Spawns `airmirror` commands against one database and upstream, and cleans up after the file. */
export function replicaHarness(databaseUrl: string, upstreamUrl: string) {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const env = (extra: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'airmirror-replica-'));
    dirs.push(dir);
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AIRMIRROR_LOG_LEVEL: 'warn',
      AIRMIRROR_DATA_DIR: dir,
      DATABASE_URL: databaseUrl,
      AIRTABLE_API_URL: upstreamUrl,
      AIRTABLE_TOKEN: EMULATOR_TOKEN,
      AIRTABLE_BASES: `${BASES.shop}:shop,${BASES.b2}:b2,${BASES.b3}:b3`,
      AIRMIRROR_SECRET_KEY: SECRET_KEY,
      ...extra,
    };
  };

  /** `airmirror start` on a port of its own; `extra` adds to or replaces its environment. */
  async function startReplica(extra: Record<string, string> = {}): Promise<Replica> {
    const child = spawn(process.execPath, [BIN, 'start'], {
      env: env({ PORT: '0', ...extra }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const out = { stdout: '', stderr: '' };
    child.stdout!.on('data', (d) => (out.stdout += d));
    child.stderr!.on('data', (d) => (out.stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitUntil(
      () => {
        if (child.exitCode !== null) throw new Error(`airmirror start exited: ${out.stderr}`);
        return out.stdout.includes('Press Ctrl-C');
      },
      { what: 'a replica to start', timeoutMs: 90_000, intervalMs: 100 },
    );
    const url = /management\s+(\S+)\/api/.exec(out.stdout)![1];
    return { child, pid: child.pid!, url, out, exited };
  }

  /**
   * `airmirror verify --json`: its exit code and the drift it found. Asynchronous: the upstream it
   * reads is served by this very process.
   */
  async function verify(): Promise<{ code: number | null; drift: number | undefined; output: string }> {
    const child = spawn(process.execPath, [BIN, 'verify', '--json'], {
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    let drift: number | undefined;
    try {
      drift = (JSON.parse(stdout) as { drift: number }).drift;
    } catch {
      // the exit code and the output say enough
    }
    return { code, drift, output: stdout + stderr };
  }

  return { startReplica, verify, env };
}

export type ReplicaHarness = ReturnType<typeof replicaHarness>;

/** What a file of three-replica tests works with; all but `db` are set once its setup has run. */
export interface ReplicaCluster {
  /** The file's database: the replicas' Postgres. */
  db: TestDatabase;
  upstream: Upstream;
  harness: ReplicaHarness;
  /** The replicas running now: a test that kills one or starts another keeps this up to date. */
  replicas: Replica[];
}

/**
 * The setup of a file of three-replica tests: a database of its own, the upstream with Airtable's
 * limit of 5 requests/s per base and its 30-s penalty (docs/airtable-reference.md §2.1) — the
 * replicas share one budget through Postgres, so they draw no 429 — and three `airmirror start`
 * replicas on it, started before the file's tests (then `ready`, in the same `timeoutMs`). After
 * the file, every replica still running is killed and the upstream closed.
 */
export async function useReplicaCluster(opts: {
  timeoutMs: number;
  ready?: (cluster: ReplicaCluster) => Promise<unknown>;
}): Promise<ReplicaCluster> {
  // Everything but the database is set in beforeAll, before any test reads it.
  const cluster = { db: await createTestDatabase(), replicas: [] as Replica[] } as ReplicaCluster;
  beforeAll(async () => {
    cluster.upstream = await startUpstream({ rateLimit: 5 });
    cluster.harness = replicaHarness(cluster.db.url, cluster.upstream.url);
    const { startReplica } = cluster.harness;
    cluster.replicas = await Promise.all([startReplica(), startReplica(), startReplica()]);
    await opts.ready?.(cluster);
  }, opts.timeoutMs);
  afterAll(async () => {
    for (const r of cluster.replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await cluster.upstream?.close();
  });
  return cluster;
}

/** A client on the test's database (the replicas' Postgres). */
export async function query<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

/** Which replica (by pid) holds each source now, read from the locks in Postgres. */
export async function ownersByPid(url: string): Promise<Map<string, number>> {
  const rows = await query<{ source_id: string; pid: number }>(
    url,
    `SELECT o.source_id, p.pid FROM airmirror.base_owners o
       JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid
        AND l.objid = o.lock_key::oid AND l.objsubid = 2
       JOIN airmirror.processes p ON p.backend_pid = l.pid`,
    [0x616d6f77],
  );
  return new Map(rows.map((r) => [r.source_id, r.pid]));
}

/** Statuses of every table, by `<schema>.<table>`. */
export async function tableStates(url: string): Promise<Map<string, string | null>> {
  const rows = await query<{ name: string; status: string | null }>(
    url,
    `SELECT s.schema_name || '.' || t.mirror_table AS name, t.status
       FROM airmirror.tables t JOIN airmirror.sources s ON s.id = t.source_id WHERE t.vanished_at IS NULL`,
  );
  return new Map(rows.map((r) => [r.name, r.status]));
}

/** Every table of the three bases mirrored and Completed (7 tables). */
export async function allCompleted(url: string): Promise<boolean> {
  const states = await tableStates(url).catch(() => new Map<string, string | null>());
  return states.size === 7 && [...states.values()].every((s) => s === 'Completed');
}

/**
 * Runs of one table that overlapped in time, from `airmirror.sync_runs` (a run still open counts
 * until now): two processes ran it at once. Source-level steps (no table) are left out.
 */
export async function overlappingRuns(url: string): Promise<string[]> {
  const rows = await query<{ a: string; b: string; table_id: string }>(
    url,
    `SELECT r1.id::text AS a, r2.id::text AS b, r1.table_id FROM airmirror.sync_runs r1
       JOIN airmirror.sync_runs r2 ON r2.source_id = r1.source_id AND r2.table_id = r1.table_id AND r2.id > r1.id
      WHERE r1.table_id IS NOT NULL
        AND tstzrange(r1.started_at, coalesce(r1.finished_at, now()), '[)')
            && tstzrange(r2.started_at, coalesce(r2.finished_at, now()), '[)')`,
  );
  return rows.map((r) => `${r.table_id}: runs ${r.a} and ${r.b}`);
}

export async function api(replica: Replica, method: string, path: string): Promise<Response> {
  return fetch(`${replica.url}/api${path}`, { method, headers: { 'content-type': 'application/json' } });
}
