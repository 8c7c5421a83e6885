/**
 * Fan-in (issue 12, docs/ownership.md): ONE `airmirror start` process mirrors 50 bases at once
 * against an emulator that enforces Airtable's 5 requests/s per base (with its 30-s penalty).
 * At 100 records a page, 50 bases at 5 requests/s each can give 25,000 records/s: the target is
 * ≥ 0.95 × that, with 0 × 429.
 *
 * Airtable also allows 50 requests/s per token (docs/airtable-reference.md §2.1): with one token
 * for all 50 bases the ceiling is 5,000 records/s whatever the process does. So the bases are
 * spread over TOKENS tokens (default 5, ten bases each: 50 requests/s a token at full speed),
 * each base a source created through the management API with its token, as an operator with
 * several workspaces would; `FANIN_TOKENS=1` measures the one-token case (AIRTABLE_BASES).
 *
 * - the emulator runs in a CHILD process over loopback HTTP (this file with `--emulator`), each
 *   base one table of RECORDS records, made through the emulator's own store and control;
 * - the process under test is `bin/airmirror.js start` with its default concurrency settings
 *   (AIRMIRROR_SYNC_CONCURRENCY, AIRMIRROR_SYNC_CONCURRENCY_PER_BASE) and rate limit (5/s);
 * - records/s = records mirrored / (last run finished − first run started), from
 *   airmirror.sync_runs; the emulator's call log gives the 429s and the busiest second of a base.
 *
 * Embedded Postgres with fsync off (a throwaway cluster). The three processes share the machine's
 * cores with whatever else runs there: report the figure with the load in mind.
 */
import { serveEmulatorChild, spawnEmulatorChild } from './_emulator-child.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { createEmulator, EMULATOR_TOKEN } from '../emulator/index.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';

const BIN = join(import.meta.dirname, '../bin/airmirror.js');
const BASES = 50;
const RECORDS = 5_000;
const PER_BASE_RPS = 5;
const TOKENS = Math.max(1, Number(process.env.FANIN_TOKENS ?? 5));
/** Token k (k < TOKENS); token 0 is the emulator's default one. */
const tokenOf = (k: number) =>
  k === 0 ? EMULATOR_TOKEN : `patFanIn${String(k).padStart(9, '0')}.` + '0123456789abcdef'.repeat(4);
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const baseIdOf = (i: number) => `appFanIn${String(i).padStart(9, '0')}`;

async function runEmulatorChild(): Promise<void> {
  const emulator = createEmulator({
    seed: 'empty',
    rateLimit: false,
    callLogLimit: 100_000,
    tokens: Array.from({ length: TOKENS }, (_, k) => tokenOf(k)),
  });
  const c = emulator.control;
  for (let b = 0; b < BASES; b++) {
    const baseId = baseIdOf(b);
    emulator.store.addBase({
      id: baseId,
      name: `Fan-in ${b}`,
      permissionLevel: 'create',
      tables: [],
      collaborators: [{ id: 'usrFanInOwner0001', email: 'owner@example.com', name: 'Owner' }],
    });
    c.createTable(baseId, {
      name: 'Items',
      fields: [
        { name: 'Name', type: 'singleLineText' },
        { name: 'Qty', type: 'number', options: { precision: 0 } },
        { name: 'Note', type: 'multilineText' },
      ],
    });
    for (let i = 0; i < RECORDS; i += 10) {
      c.createRecords(
        baseId,
        'Items',
        Array.from({ length: Math.min(10, RECORDS - i) }, (_, k) => ({
          fields: { Name: `item ${i + k} of ${b}`, Qty: i + k, Note: `a note about item ${i + k}` },
        })),
      );
    }
  }
  c.clearCalls();
  // Airtable's limit, from now on (the setup above went through the control surface).
  c.setRateLimit(PER_BASE_RPS);
  await serveEmulatorChild(emulator);
}

interface Call {
  baseId: string | null;
  status: number | null;
  at: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'airmirror-bench-fanin-'));
  const pgh = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), persistent: false, durable: false });
  const emu = await spawnEmulatorChild(import.meta.filename, ['--emulator']);
  const db = new pg.Client(pgh.url);
  await db.connect();
  let replica: ChildProcess | undefined;
  const out: Record<string, unknown> = {
    postgres: 'embedded, fsync off',
    emulator: 'child process over loopback HTTP, 5 requests/s per base, 30-s penalty',
    bases: BASES,
    records_per_base: RECORDS,
    tokens: TOKENS,
    // What Airtable's limits allow at all: 5 requests/s a base, 50 a token, 100 records a page.
    airtable_ceiling_records_per_second: Math.min(BASES * PER_BASE_RPS, TOKENS * 50) * 100,
  };
  try {
    const t0 = performance.now();
    // One token: the bases from the environment. Several: sources made through the API, each with
    // its token (bases i, i + TOKENS, … share token i mod TOKENS).
    const fromEnv = TOKENS === 1;
    replica = spawn(process.execPath, [BIN, 'start'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AIRMIRROR_LOG_LEVEL: 'warn',
        AIRMIRROR_DATA_DIR: join(dir, 'data'),
        DATABASE_URL: pgh.url,
        AIRTABLE_API_URL: emu.url,
        // A token without bases is not the demo (which would bring its own emulator).
        AIRTABLE_TOKEN: EMULATOR_TOKEN,
        ...(fromEnv
          ? { AIRTABLE_BASES: Array.from({ length: BASES }, (_, i) => `${baseIdOf(i)}:fan_${i}`).join(',') }
          : {}),
        AIRMIRROR_SECRET_KEY: 'a-long-enough-secret-key-for-the-bench',
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const banner = createInterface({ input: replica.stdout! });
    const logf = (await import('node:fs')).createWriteStream('/tmp/fanin-log.jsonl');
    banner.on('line', (l) => logf.write(l + '\n'));
    const api = await new Promise<string>((resolve, reject) => {
      replica!.once('exit', (code) => reject(new Error(`airmirror start exited (${code})`)));
      banner.on('line', (l) => {
        const m = /management\s+(\S+\/api)/.exec(l);
        if (m) resolve(m[1]);
      });
    });
    if (!fromEnv) {
      // All at once, as a script adding a batch of sources would: one after another, the last
      // base would start seconds after the first, and the window would measure that stagger.
      await Promise.all(
        Array.from({ length: BASES }, async (_, i) => {
          const res = await fetch(`${api}/sources`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              base_id: baseIdOf(i),
              token: tokenOf(i % TOKENS),
              schema_name: `fan_${i}`,
            }),
          });
          if (res.status !== 201) throw new Error(`creating source ${i}: ${res.status} ${await res.text()}`);
        }),
      );
    }
    const exited = new Promise((r) => replica!.once('exit', r));
    const done = async () => {
      const r = await db
        .query<{ n: number }>(
          // Every table synced, and every run's row closed (a table says Completed a moment
          // before its run records its end and its counts, which the figures read).
          `SELECT CASE WHEN EXISTS (SELECT 1 FROM airmirror.sync_runs WHERE status = 'running') THEN 0
                  ELSE (SELECT count(*)::int FROM airmirror.tables t JOIN airmirror.sources s ON s.id = t.source_id
                         WHERE t.status = 'Completed') END AS n`,
        )
        .catch(() => ({ rows: [{ n: 0 }] }));
      return r.rows[0].n >= BASES;
    };
    const margins: unknown[] = [];
    const poll = setInterval(() => {
      db.query(`SELECT max(margin) mx, round(avg(margin)) av, max(updated_at) u FROM airmirror.budget_keys WHERE key LIKE 'b:%'`).then((r) => margins.push({ t: Date.now(), ...r.rows[0] }), () => undefined);
    }, 250);
    await until(done, 600_000, 'every base mirrored', exited);
    clearInterval(poll);
    (await import('node:fs')).writeFileSync('/tmp/fanin-margins.json', JSON.stringify(margins));
    out.wall_seconds_from_spawn = round((performance.now() - t0) / 1000);

    const runs = (
      await db.query<{ started: number; finished: number; records: number }>(
        `SELECT extract(epoch FROM min(started_at))::float8 AS started,
                extract(epoch FROM max(finished_at))::float8 AS finished,
                sum(records_upserted)::int AS records
           FROM airmirror.sync_runs WHERE table_id IS NOT NULL AND status = 'completed'`,
      )
    ).rows[0];
    let rows = 0;
    for (let i = 0; i < BASES; i++) {
      const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM fan_${i}.items`);
      rows += r.rows[0].n;
    }
    const seconds = runs.finished - runs.started;
    const perSecond = rows / seconds;
    const target = 0.95 * BASES * PER_BASE_RPS * 100;

    const calls = (
      (await (await fetch(`${emu.url}/__emulator/calls`)).json()) as {
        calls: Call[];
      }
    ).calls;
    const perBaseSecond = new Map<string, number>();
    for (const c of calls) {
      if (!c.baseId) continue;
      const k = `${c.baseId}/${Math.floor(c.at / 1000)}`;
      perBaseSecond.set(k, (perBaseSecond.get(k) ?? 0) + 1);
    }
    const runsAll = (await db.query(`SELECT r.*, extract(epoch FROM started_at)*1000 AS s_ms, extract(epoch FROM finished_at)*1000 AS f_ms FROM airmirror.sync_runs r ORDER BY started_at`)).rows;
    (await import('node:fs')).writeFileSync('/tmp/fanin-calls.json', JSON.stringify({ calls, runs: runsAll }));
    out.fan_in = {
      records_mirrored: rows,
      records_upserted_by_runs: runs.records,
      window_seconds: round(seconds),
      records_per_second: Math.round(perSecond),
      target_records_per_second: target,
      reached: perSecond >= target,
      requests: calls.length,
      requests_429: calls.filter((c) => c.status === 429).length,
      busiest_base_second_requests: Math.max(0, ...perBaseSecond.values()),
      note: 'first-sync of every base (each a rebuild into a swap schema), all 50 at once',
    };
    replica.kill('SIGTERM');
    await exited;
  } finally {
    if (replica && replica.exitCode === null) replica.kill('SIGKILL');
    emu.child.kill('SIGTERM');
    await db.end();
    await pgh.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function until(
  cond: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  exited: Promise<unknown>,
) {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (gone) throw new Error(`airmirror exited before ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (process.argv.includes('--emulator')) await runEmulatorChild();
else await main();
