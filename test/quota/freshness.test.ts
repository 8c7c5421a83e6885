import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { runFreshnessScenario } from '../support/freshness-sim.ts';

/**
 * Issue 17: a stream of changes (one every 5 s) under a freshness target of 60 s, on the
 * emulator's webhooks and call log, in virtual time: every change reaches the mirror within the
 * target, and the calls, scaled to a month with a daily safety-net sweep, fit a Team plan's
 * 100,000 — where a read per change would be 518,400.
 */
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});

describe('freshness within the monthly quota', () => {
  it('coalesces pings under max_lag_seconds 60: every change within 60 s, under 100,000 calls a month', async () => {
    const r = await runFreshnessScenario(t.db, {
      maxLagSeconds: 60,
      changeEverySeconds: 5,
      seconds: 600,
      records: 2000,
    });
    expect(r.changes).toBe(120);
    expect(r.lost).toBe(0);
    expect(r.lagMaxSeconds).toBeLessThanOrEqual(60);
    expect(r.recordFetches).toBe(0);
    // One payload read per window (55 s): 600 s of stream is at most 11 windows.
    expect(r.streamCalls).toBeLessThanOrEqual(12);
    expect(r.callsPerMonth).toBeLessThan(100_000);
  });
});
