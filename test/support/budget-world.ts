import { sql } from '../../src/db/sql.ts';
import type { Queryable } from '../../src/db/database.ts';
import type { FakeClock } from './fake-clock.ts';
import { waitUntil } from './wait.ts';

/**
 * What the shared-budget tests (test/airtable/shared-budget.test.ts, budget-stock.test.ts) share:
 * a fake clock moved only once every budget statement has settled, the budget rows emptied
 * between tests, and the check that starts keep to a window.
 */

/**
 * `quiet` waits until no budget statement is in flight (`busy()` false) twice in a row, `pauseMs`
 * apart, then calls `onQuiet`; `run(ms, step)` moves the clock by `ms` in steps of `step`,
 * settling before and after each.
 */
export function settledClock(
  clock: FakeClock,
  busy: () => boolean,
  opts: { pauseMs: number; what: string; onQuiet?: () => void },
): { quiet(): Promise<void>; run(ms: number, step?: number): Promise<void> } {
  const quiet = async () => {
    for (let calm = 0; calm < 2;) {
      await waitUntil(() => !busy(), { what: opts.what });
      await new Promise((r) => setTimeout(r, opts.pauseMs));
      calm = busy() ? 0 : calm + 1;
    }
    opts.onQuiet?.();
  };
  const run = async (ms: number, step = 20) => {
    await quiet();
    for (let done = 0; done < ms; done += step) {
      clock.jump(Math.min(step, ms - done));
      await quiet();
    }
  };
  return { quiet, run };
}

export async function clearBudgetRows(db: Queryable): Promise<void> {
  await db.query(
    sql('TRUNCATE airmirror.budget_keys, airmirror.airtable_calls_pending, airmirror.airtable_calls'),
  );
}

/** No more than `limit` starts in any window of `windowMs` (Airtable counts per second). */
export function withinWindow(times: number[], limit: number, windowMs = 1000): boolean {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted.every((at, i) => i + limit >= sorted.length || sorted[i + limit] - at >= windowMs);
}
