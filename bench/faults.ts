/**
 * `npm run bench -- faults`: the fault scenario of issue 14 (test/support/fault-run.ts) — a mirror
 * under load (an app writing through the proxy, a user editing in Airtable) through Airtable 5xx
 * bursts and a timeout mid-listing, expired list offsets, a 429 storm, `kill -9` mid-sweep and
 * mid-rebuild, and a Postgres restart — and its figures: writes acknowledged, lost (target 0),
 * phantom rows (target 0), drift after settling (target 0), the time to settle after the last
 * fault, and the longest proxy answer while Postgres was restarting. JSON as the last line.
 */
import { cpus } from 'node:os';
import { runFaultScenario } from '../test/support/fault-run.ts';

const started = Date.now();
const r = await runFaultScenario({ records: 2_000, note: (line) => process.stderr.write(`  ${line}\n`) });
process.stdout.write(
  JSON.stringify({
    cores: cpus().length,
    records: 2_000,
    writes_attempted: r.writes_attempted,
    writes_acknowledged: r.writes_acknowledged,
    lost: r.lost,
    lost_target: 0,
    phantom_rows: r.phantom_rows,
    phantom_rows_target: 0,
    drift_after_settling: r.drift_after_settling,
    drift_target: 0,
    settle_ms_after_last_fault: r.settle_ms,
    longest_proxy_answer_during_pg_restart_ms: r.longest_proxy_answer_during_pg_restart_ms,
    acknowledged_during_pg_restart: r.acknowledged_during_pg_restart,
    direct_airtable_edits: r.direct_edits,
    unexpected_exits: r.unexpected_exits,
    verify_exit_code: r.verify.code,
    phase_ms: r.phases,
    scenario_ms: Date.now() - started,
  }) + '\n',
);
