/**
 * `npm run bench`: runs every benchmark script (bench/*.ts other than this one), each in its own
 * process, collects the JSON each prints as its last stdout line, and writes bench/results.json
 * with machine info. `npm run bench -- proxy sync` runs only the named ones.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const scripts = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .filter((f) => only.length === 0 || only.includes(basename(f, '.ts')))
  .sort();

const results: Record<string, unknown> = {};
let failed = 0;
for (const script of scripts) {
  const name = basename(script, '.ts');
  process.stderr.write(`bench ${name} …\n`);
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 10 * 60_000,
    env: { ...process.env, AIRMIRROR_LOG_LEVEL: process.env.AIRMIRROR_LOG_LEVEL ?? 'silent' },
  });
  const lastLine = r.stdout.trim().split('\n').pop() ?? '';
  try {
    results[name] = { ...JSON.parse(lastLine), wall_seconds: (Date.now() - started) / 1000 };
  } catch {
    failed++;
    results[name] = { error: r.error?.message ?? `exit ${r.status}`, output: lastLine.slice(0, 500) };
  }
}

const report = {
  generated_at: new Date().toISOString(),
  machine: {
    platform: `${platform()} ${release()}`,
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  results,
};
const out = join(here, only.length ? 'results.local.json' : 'results.json');
writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.exit(failed ? 1 : 0);
