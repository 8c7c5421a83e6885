/**
 * `npm run bench -- freshness` (issue 17): Airtable calls a month and change → mirror lag at one
 * change every 5 s, for freshness targets (`max_lag_seconds`) of 10 s and 60 s. The scenario
 * (test/support/freshness-sim.ts) runs on a virtual clock against the in-process emulator: its
 * call log counts every call the webhook path makes (payload reads, record fetches), scaled to a
 * 30-day month, plus one full sweep of the base a day (the safety net, measured once). Lags are
 * virtual seconds from the edit in Airtable to the row in the mirror, checked every second.
 * Target at 60 s: < 100,000 calls a month with p99 lag ≤ 60 s. JSON as the last line.
 * Uses DATABASE_URL when set (one database per target is created there), otherwise a throwaway
 * embedded Postgres.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { quoteIdent } from '../src/db/quote.ts';
import { sql } from '../src/db/sql.ts';
import { runFreshnessScenario, type FreshnessResult } from '../test/support/freshness-sim.ts';

const SECONDS = Number(process.env.BENCH_FRESHNESS_SECONDS ?? 1800);
const RECORDS = Number(process.env.BENCH_FRESHNESS_RECORDS ?? 10_000);
const dir = process.env.DATABASE_URL ? undefined : mkdtempSync(join(tmpdir(), 'airmirror-bench-fresh-'));
const pg = dir ? await startEmbeddedPostgres({ dataDir: dir, persistent: false, durable: false }) : undefined;
const adminUrl = process.env.DATABASE_URL ?? pg!.url;
const admin = createDatabase(adminUrl);
const started = Date.now();
const results: Record<string, FreshnessResult & { real_seconds: number }> = {};
try {
  for (const target of [10, 60]) {
    const name = `airmirror_bench_fresh_${target}_${process.pid}`;
    await admin.query(sql(`CREATE DATABASE ${quoteIdent(name)}`));
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    const db = createDatabase(url.toString());
    try {
      await migrate(db);
      const t0 = Date.now();
      const r = await runFreshnessScenario(db, {
        maxLagSeconds: target,
        changeEverySeconds: 5,
        seconds: SECONDS,
        records: RECORDS,
      });
      results[`max_lag_${target}s`] = { ...r, real_seconds: (Date.now() - t0) / 1000 };
      process.stderr.write(`  target ${target} s: ${JSON.stringify(r)}\n`);
    } finally {
      await db.close();
      await admin.query(sql(`DROP DATABASE ${quoteIdent(name)}`));
    }
  }
} finally {
  await admin.close();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
const at = (t: number) => results[`max_lag_${t}s`];
process.stdout.write(
  JSON.stringify({
    cores: cpus().length,
    records: RECORDS,
    change_every_seconds: 5,
    simulated_seconds_per_target: SECONDS,
    calls_per_month_at_10s: at(10).callsPerMonth,
    calls_per_month_at_60s: at(60).callsPerMonth,
    calls_per_month_target_at_60s: 100_000,
    lag_p50_seconds_at_10s: at(10).lagP50Seconds,
    lag_p99_seconds_at_10s: at(10).lagP99Seconds,
    lag_p50_seconds_at_60s: at(60).lagP50Seconds,
    lag_p99_seconds_at_60s: at(60).lagP99Seconds,
    lag_p99_target_at_60s: 60,
    calls_per_month_one_read_per_change: Math.round((30 * 86400) / 5) + at(60).sweepCalls * 30,
    details: results,
    scenario_ms: Date.now() - started,
  }) + '\n',
);
