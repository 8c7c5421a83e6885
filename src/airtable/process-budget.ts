import { createHistogram } from 'node:perf_hooks';
import { createDatabase } from '../db/database.ts';
import type { LoopLog } from '../lifecycle/background-loop.ts';
import { createSharedBudget, type SharedBudget, type SharedBudgetOptions } from './shared-budget.ts';

/**
 * The shared request budget of a Node process (`airmirror start`, `sync --once`, `verify`): its
 * own two-connection pool, so a claim never queues behind the syncer's long transactions or the
 * proxy's writes, and its upkeep loop. `close` stops the loop (one last flush of the counts) and
 * the pool; call it after everything that sends Airtable requests has stopped.
 */
export function openProcessBudget(opts: {
  databaseUrl: string;
  perSecond: number;
  preparedStatements?: boolean;
  log: LoopLog & { info?(obj: object, msg: string): void; error?(obj: object, msg: string): void };
  onClaim?: SharedBudgetOptions['onClaim'];
  /** Bases the process works on: their stats are kept (the tracked set). */
  bases?: string[];
}): { budget: SharedBudget; close(): Promise<void> } {
  const db = createDatabase(opts.databaseUrl, {
    max: 2,
    connectionTimeoutMs: 2_000,
    preparedStatements: opts.preparedStatements,
    // An idle connection's error (Postgres restarting): the next claim finds out and falls back.
    onError: (err) => opts.log.warn({ err: err.message }, 'request budget: a Postgres connection failed'),
  });
  const lag = eventLoopLag();
  const budget = createSharedBudget({
    db,
    perSecond: opts.perSecond,
    log: opts.log,
    onClaim: opts.onClaim,
    marginMs: lag.marginMs,
    // Proxy requests are served from a stock leased ahead: no round trip on the request's path.
    stock: true,
  });
  for (const b of opts.bases ?? []) budget.track(b);
  budget.start();
  return {
    budget,
    async close() {
      await budget.stop();
      lag.stop();
      await db.close();
    },
  };
}

/** Longest lag margin reported (a process whose loop stalls longer needs fixing, not waiting). */
const MAX_MARGIN_MS = 500;
const RESOLUTION_MS = 10;

/**
 * How late this process's event loop has lately run things: the 99th percentile of its delays
 * over the last two periods of 2 s, and the longest delay of the period under way. A request
 * granted for now leaves that much later when the loop is busy (a syncer at full speed on many
 * bases); the shared budget lengthens the window by it, so a late departure cannot land in
 * Airtable's next second together with the next window's first requests.
 *
 * The period under way counts at once: a stall delays the requests granted during it, and the
 * next window's are granted about a second later, before the period's percentile is read. And the
 * delays are measured here, by a timer that notes how late it fires: node's monitorEventLoopDelay
 * does not see a stall (a 250-ms busy loop shows as a 10-ms delay there; event-loop-lag.test.ts).
 * Seen on a loaded machine (bench/fan-in.ts beside a busy process, 50 bases): after a stall of
 * ~80 ms, four bases had six requests inside 940–996 ms at the emulator — four 429s; 3 and 4 × 429
 * in two such runs before, 0, 4, 0, 0, 0 in five after (the emulator stalls too: not all of it is
 * this process's).
 */
export function eventLoopLag(): { marginMs(): number; stop(): void } {
  // Microseconds late, per firing (a histogram records integers ≥ 1).
  const h = createHistogram();
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  let last = 0;
  let previous = 0;
  let current = 0;
  const ms = (us: number) => Math.max(0, us / 1000);
  // Measured from the first claim on: what the loop did before any request was granted (a
  // process's start-up — module loading, a preallocated record-hash cache: one 130-ms stall seen)
  // delayed no departure, and counted for two periods it held every base's window 10% longer.
  const begin = () => {
    let expected = performance.now() + RESOLUTION_MS;
    timer = setInterval(() => {
      const t = performance.now();
      h.record(Math.max(1, Math.round((t - expected) * 1000)));
      expected = t + RESOLUTION_MS;
    }, RESOLUTION_MS);
    timer.unref();
    last = Date.now();
  };
  return {
    marginMs() {
      if (!timer) {
        if (!stopped) begin();
        return 0;
      }
      const t = Date.now();
      if (t - last >= 2_000) {
        previous = current;
        current = h.count > 0 ? ms(h.percentile(99)) : 0;
        h.reset();
        last = t;
      }
      const live = h.count > 0 ? ms(h.max) : 0;
      return Math.min(MAX_MARGIN_MS, Math.round(Math.max(previous, current, live)));
    },
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
