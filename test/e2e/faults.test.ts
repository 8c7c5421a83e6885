/**
 * The fault suite (issue 14): a mirror under load — an app writing through the proxy, a user
 * editing in Airtable — through Airtable 5xx bursts and a timeout mid-listing, expired list
 * offsets, a 429 storm, `kill -9` mid-sweep and mid-rebuild (then a restart), and a Postgres
 * restart (test/support/fault-run.ts). Afterwards every write Airtable acknowledged is in the
 * mirror, no row Airtable lacks, `airmirror verify` finds no drift, and `airmirror start` never
 * exited on its own. `npm run bench -- faults` reports the same run's figures.
 */
import { describe, expect, it } from 'vitest';
import { runFaultScenario } from '../support/fault-run.ts';

describe('a mirror under load through faults', () => {
  it('loses no acknowledged write, has no phantom row and no drift, and never exits', async () => {
    const r = await runFaultScenario();
    const report = JSON.stringify(r);
    expect(r.unexpected_exits, report).toBe(0);
    expect(r.writes_acknowledged).toBeGreaterThan(50);
    expect(r.acknowledged_during_pg_restart).toBeGreaterThanOrEqual(10);
    expect(r.direct_edits).toBeGreaterThan(20);
    expect(r.lost, report).toBe(0);
    expect(r.phantom_rows, report).toBe(0);
    expect(r.drift_after_settling, report).toBe(0);
    expect(r.verify.code, report).toBe(0);
  }, 300_000);
});
