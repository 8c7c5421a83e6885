/**
 * CLI start-up benchmark (issue 16: a cron job starts the CLI every minute), JSON on the last
 * stdout line: the wall time of whole processes, from spawn to exit, median of RUNS —
 * - `airmirror status --json` through the package's bin (dist/, built first by scripts/build.mjs)
 *   against a running mirror (DATABASE_URL set: an embedded Postgres with the demo base synced),
 *   target ≤ 300 ms;
 * - `airmirror --help` (start-up alone, no Postgres);
 * - the same status through tsx from the sources, as every command ran before the build;
 * - `node -e 0`, the floor any Node command pays on this machine (to read the others against:
 *   on a loaded machine every figure grows together);
 * each with its median CPU time (user + system), which a busy machine inflates far less.
 * Self-contained: its own embedded Postgres in a temp dir and the emulator over loopback HTTP.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../emulator/index.ts';
import { startEmulatorServer } from '../emulator/server.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'airmirror.js');
const RUNS = Number(process.env.CLI_START_RUNS ?? 15);

/**
 * Wall ms of one process, spawn to exit (asynchronously: the emulator answers from this process),
 * and the CPU ms (user + system) it used: run under `sh`, whose `times` reports its children's
 * CPU (10 ms ticks). On a loaded machine the wall time mostly waits for a core; the CPU time
 * is the work the start itself costs.
 */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ wall: number; cpu: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('sh', ['-c', '"$@"; s=$?; times >&2; exit $s', 'sh', cmd, ...args], {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = performance.now() - t0;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      // `times`: the shell's user and system time, then its children's ("0m0.120000s 0m0.070000s").
      const children = stderr.trim().split('\n').at(-1) ?? '';
      const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      if (secs.length !== 2) return reject(new Error(`no CPU times from sh: ${stderr}`));
      resolve({ wall, cpu: (secs[0] + secs[1]) * 1000 });
    });
  });
}

/**
 * Median, min and max wall ms of RUNS runs (after one warm-up run that fills the page cache), and
 * the median CPU ms.
 */
async function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  await run(cmd, args, env);
  const runs: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run(cmd, args, env));
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const wall = runs.map((r) => r.wall).sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    median_ms: round(median(wall)),
    min_ms: round(wall[0]),
    max_ms: round(wall.at(-1)!),
    cpu_median_ms: round(median(runs.map((r) => r.cpu))),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'airmirror-bench-cli-'));
const pg = await startEmbeddedPostgres({ dataDir: dir, persistent: false, durable: false });
const emulator = await startEmulatorServer(createEmulator({ records: 1000 }), { port: 0 });
try {
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('the build failed');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    DATABASE_URL: pg.url,
    AIRTABLE_API_URL: emulator.url,
    AIRTABLE_BASES: DEMO_BASE_ID,
    AIRTABLE_TOKEN: EMULATOR_TOKEN,
    AIRMIRROR_SECRET_KEY: 'a-long-enough-secret-key-for-the-bench',
    AIRMIRROR_LOG_LEVEL: 'warn',
    AIRMIRROR_RATE_LIMIT: '1000',
  };
  // A mirror to report on: the demo base (3 tables, 1,000 orders) synced once.
  await run(process.execPath, [BIN, 'sync', '--once'], env);

  const status = await measure(process.execPath, [BIN, 'status', '--json'], env);
  const help = await measure(process.execPath, [BIN, '--help'], env);
  const floor = await measure(process.execPath, ['-e', '0'], env);
  const tsx = await measure(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'status', '--json'],
    env,
  );
  process.stdout.write(
    JSON.stringify({
      runs: RUNS,
      status_json: status,
      help,
      status_json_from_sources_with_tsx: tsx,
      node_floor: floor,
      target_status_ms: 300,
    }) + '\n',
  );
} finally {
  await emulator.close();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
