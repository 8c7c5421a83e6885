/**
 * Replicas under proxy load (issue 12): THREE `airmirror start` processes on one Postgres, each
 * syncing (the bases' first build, spread between them) while apps write through all three
 * proxies at once, against an emulator that enforces Airtable's 5 requests/s per base with its
 * 30-s penalty. What the emulator saw, per base: the most requests that arrived in any one second
 * (sliding, by arrival; target ≤ 5), the mean rate, and the 429s (target 0); what the apps saw:
 * their answers by status (a proxy answers 429 itself when no slot came in time, sending nothing).
 *
 * - the emulator runs in a CHILD process over loopback HTTP (this file with `--emulator`);
 * - the apps' load: WRITERS per base, each a closed loop of 10-record PATCHes with THINK_MS
 *   between, round robin over the three proxies — more than a base's 5/s together, so the shared
 *   budget decides (proxy first, background work keeps its slot);
 * - it runs until every table is mirrored and LOAD_S seconds have passed.
 *
 * Embedded Postgres with fsync off. Five processes share the machine's cores with whatever else
 * runs there: report the figures with the load in mind.
 */
import { serveEmulatorChild, spawnEmulatorChild } from './_emulator-child.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createEmulator, EMULATOR_TOKEN } from '../emulator/index.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';

const BIN = join(import.meta.dirname, '../bin/airmirror.js');
const BASES = 3;
const RECORDS = Number(process.env.BENCH_REPLICAS_RECORDS ?? 2_000);
const PER_BASE_RPS = 5;
const WRITERS = Number(process.env.BENCH_REPLICAS_WRITERS ?? 2);
const THINK_MS = Number(process.env.BENCH_REPLICAS_THINK_MS ?? 100);
const LOAD_S = Number(process.env.BENCH_REPLICAS_LOAD_S ?? 30);
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const baseIdOf = (i: number) => `appReplLoad${String(i).padStart(6, '0')}`;

async function runEmulatorChild(): Promise<void> {
  const emulator = createEmulator({ seed: 'empty', rateLimit: false, callLogLimit: 200_000 });
  const c = emulator.control;
  const ids: Record<string, string[]> = {};
  for (let b = 0; b < BASES; b++) {
    const baseId = baseIdOf(b);
    emulator.store.addBase({
      id: baseId,
      name: `Replicas ${b}`,
      permissionLevel: 'create',
      tables: [],
      collaborators: [{ id: 'usrReplLoadOwner1', email: 'owner@example.com', name: 'Owner' }],
    });
    c.createTable(baseId, {
      name: 'Items',
      fields: [
        { name: 'Name', type: 'singleLineText' },
        { name: 'Qty', type: 'number', options: { precision: 0 } },
      ],
    });
    ids[baseId] = [];
    for (let i = 0; i < RECORDS; i += 10) {
      const made = c.createRecords(
        baseId,
        'Items',
        Array.from({ length: Math.min(10, RECORDS - i) }, (_, k) => ({
          fields: { Name: `item ${i + k} of ${b}`, Qty: i + k },
        })),
      );
      if (ids[baseId].length < 100) ids[baseId].push(...made.map((r) => r.id));
    }
  }
  c.clearCalls();
  c.setRateLimit(PER_BASE_RPS);
  await serveEmulatorChild(emulator, { ids });
}

interface Replica {
  child: ChildProcess;
  proxy: string;
  exited: Promise<unknown>;
}

async function startReplica(dir: string, pgUrl: string, emuUrl: string, n: number): Promise<Replica> {
  const child = spawn(process.execPath, [BIN, 'start'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AIRMIRROR_LOG_LEVEL: 'warn',
      AIRMIRROR_DATA_DIR: join(dir, `data${n}`),
      DATABASE_URL: pgUrl,
      AIRTABLE_API_URL: emuUrl,
      AIRTABLE_TOKEN: EMULATOR_TOKEN,
      AIRTABLE_BASES: Array.from({ length: BASES }, (_, i) => `${baseIdOf(i)}:repl_${i}`).join(','),
      AIRMIRROR_SECRET_KEY: 'a-long-enough-secret-key-for-the-bench',
      PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  const proxy = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`airmirror start exited (${code})`)));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /proxy\s+(\S+)/.exec(out);
      if (m && out.includes('Press Ctrl-C')) resolve(m[1]);
    });
  });
  child.stdout!.resume();
  return { child, proxy, exited };
}

interface Call {
  baseId: string | null;
  status: number | null;
  at: number;
  method: string;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'airmirror-bench-replicas-'));
  const pgh = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), persistent: false, durable: false });
  const emu = await spawnEmulatorChild<{ url: string; ids: Record<string, string[]> }>(import.meta.filename, [
    '--emulator',
  ]);
  const db = new pg.Client(pgh.url);
  await db.connect();
  const replicas: Replica[] = [];
  const out: Record<string, unknown> = {
    postgres: 'embedded, fsync off',
    emulator: 'child process over loopback HTTP, 5 requests/s per base, 30-s penalty',
    replicas: 3,
    bases: BASES,
    records_per_base: RECORDS,
    writers_per_base: WRITERS,
    think_ms: THINK_MS,
  };
  try {
    // One at a time: the first migrates, the others find the schema made.
    replicas.push(await startReplica(dir, pgh.url, emu.url, 0));
    replicas.push(...(await Promise.all([1, 2].map((n) => startReplica(dir, pgh.url, emu.url, n)))));
    const t0 = Date.now();
    const answers = new Map<number, number>();
    const latencies: number[] = [];
    let stop = false;
    const writer = async (baseId: string, w: number) => {
      const recIds = emu.ids[baseId];
      for (let i = w; !stop; i += WRITERS) {
        const proxy = replicas[i % replicas.length].proxy;
        const records = Array.from({ length: 10 }, (_, k) => ({
          id: recIds[(i * 10 + k) % recIds.length],
          fields: { Name: `written ${i}.${k}` },
        }));
        const s = performance.now();
        const status = await fetch(`${proxy}/v0/${baseId}/Items`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ records }),
        })
          .then(async (r) => (await r.arrayBuffer(), r.status))
          .catch(() => 0);
        latencies.push(performance.now() - s);
        answers.set(status, (answers.get(status) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, THINK_MS));
      }
    };
    const load = Array.from({ length: BASES }, (_, b) =>
      Array.from({ length: WRITERS }, (_, w) => writer(baseIdOf(b), w)),
    ).flat();
    const built = async () => {
      const r = await db
        .query<{ n: number; done: number }>(
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE t.status = 'Completed')::int AS done
             FROM airmirror.tables t JOIN airmirror.sources s ON s.id = t.source_id`,
        )
        .catch(() => ({ rows: [{ n: 0, done: 0 }] }));
      return r.rows[0].n >= BASES && r.rows[0].done === r.rows[0].n;
    };
    let builtAt: number | null = null;
    const deadline = t0 + 600_000;
    while (Date.now() < deadline) {
      if (builtAt === null && (await built())) builtAt = Date.now();
      if (builtAt !== null && Date.now() - t0 >= LOAD_S * 1000) break;
      if (replicas.some((r) => r.child.exitCode !== null)) throw new Error('a replica exited');
      await new Promise((r) => setTimeout(r, 200));
    }
    stop = true;
    await Promise.all(load);
    const t1 = Date.now();

    const calls = ((await (await fetch(`${emu.url}/__emulator/calls`)).json()) as { calls: Call[] }).calls;
    const perBase: Record<string, unknown> = {};
    let worst = 0;
    for (let b = 0; b < BASES; b++) {
      const baseId = baseIdOf(b);
      const at = calls
        .filter((c) => c.baseId === baseId)
        .map((c) => c.at)
        .sort((x, y) => x - y);
      // The most arrivals in any window of one second: at[i + k] - at[i] < 1000 means k + 1 in one.
      let busiest = at.length > 0 ? 1 : 0;
      for (let i = 0, j = 0; j < at.length; j++) {
        while (at[j] - at[i] >= 1000) i++;
        busiest = Math.max(busiest, j - i + 1);
      }
      worst = Math.max(worst, busiest);
      const span = at.length > 1 ? (at[at.length - 1] - at[0]) / 1000 : 1;
      perBase[baseId] = {
        requests: at.length,
        mean_per_second: round(at.length / span),
        busiest_second_requests: busiest,
        writes: calls.filter((c) => c.baseId === baseId && c.method === 'PATCH').length,
        lists: calls.filter((c) => c.baseId === baseId && c.method === 'GET').length,
      };
    }
    latencies.sort((x, y) => x - y);
    out.seconds = round((t1 - t0) / 1000);
    out.mirror_built_seconds = builtAt === null ? null : round((builtAt - t0) / 1000);
    out.per_base = perBase;
    out.busiest_base_second_requests = worst;
    out.requests_429 = calls.filter((c) => c.status === 429).length;
    out.app_answers = Object.fromEntries([...answers].map(([s, n]) => [String(s), n]));
    out.app_write_p50_ms = round(latencies[Math.floor(latencies.length / 2)] ?? 0);
    out.targets = {
      busiest_base_second_max: PER_BASE_RPS,
      requests_429: 0,
      met: worst <= PER_BASE_RPS && out.requests_429 === 0,
    };
  } finally {
    for (const r of replicas) r.child.kill('SIGTERM');
    await Promise.race([
      Promise.all(replicas.map((r) => r.exited)),
      new Promise((r) => setTimeout(r, 15_000)),
    ]);
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    emu.child.kill('SIGTERM');
    await db.end();
    await pgh.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv.includes('--emulator')) await runEmulatorChild();
else await main();
