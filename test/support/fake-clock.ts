import type { Sleep } from '../../src/lifecycle/clock.ts';

/**
 * The one virtual clock of the test suite, for every injected `now`/`sleep` seam (the Airtable
 * client, the rate budget, background loops; it is also the scheduler's `Clock`): sleeps register
 * timers that fire only when the test moves time, so backoff, Retry-After and the 30-s penalty
 * run instantly and the requested delays can be asserted exactly. A sleep whose signal aborts
 * rejects with the signal's reason, as the real one does.
 */
export interface FakeClock {
  now: () => number;
  sleep: Sleep;
  /** Every delay asked of `sleep`, in order. */
  sleeps: number[];
  /**
   * Moves time forward by `ms`, firing due timers one at a time, earliest first, at their own
   * time, and letting in-process promises settle after each: what a timer's wake-up does (and
   * the sleeps it asks for) is seen before later timers fire.
   */
  advance(ms: number): Promise<void>;
  /**
   * Sets the time forward by `ms` in one step and wakes every timer due by then. For loops that
   * do real I/O (Postgres) between their sleeps, which `advance` cannot wait for: the woken code
   * sees the new time, whenever it gets to run.
   */
  jump(ms: number): void;
  /** Settles `promise`, firing timers one by one (earliest first) whenever nothing else can move. */
  run<T>(promise: Promise<T>, maxTimers?: number): Promise<T>;
  pendingTimers(): number;
  /**
   * Whether some sleep is waiting to wake at exactly `at`: a test moving time to a loop's next
   * pass first waits for the loop to be asleep (a jump before it sleeps would leave it asleep a
   * whole period past the jump).
   */
  sleepsUntil(at: number): boolean;
}

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

export const T0 = Date.UTC(2026, 0, 1);

/** Lets pending promise chains and in-process fetches run to their next await on a timer. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface FakeClockOptions {
  /**
   * Every sleep moves the time forward by its delay at once (and yields a turn), instead of waiting
   * for the test to move it: for a whole run against the emulator that nobody drives by hand (the
   * budget's 30-s penalty, backoff, Retry-After all pass instantly). Timers are then never pending.
   */
  autoAdvance?: boolean;
}

export function createFakeClock(start = T0, opts: FakeClockOptions = {}): FakeClock {
  let t = start;
  let seq = 0;
  const timers: Timer[] = [];
  const sleeps: number[] = [];

  const fireNext = (limit: number): boolean => {
    timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = timers[0];
    if (!next || next.at > limit) return false;
    timers.shift();
    t = Math.max(t, next.at);
    next.resolve();
    return true;
  };

  return {
    now: () => t,
    sleeps,
    sleep: (ms, signal) => {
      sleeps.push(ms);
      if (opts.autoAdvance) {
        if (signal?.aborted) return Promise.reject(signal.reason);
        t += Math.max(0, ms);
        return new Promise<void>((resolve, reject) =>
          setImmediate(() => (signal?.aborted ? reject(signal.reason) : resolve())),
        );
      }
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const timer: Timer = { at: t + Math.max(0, ms), seq: seq++, resolve };
        timers.push(timer);
        signal?.addEventListener(
          'abort',
          () => {
            const i = timers.indexOf(timer);
            if (i >= 0) timers.splice(i, 1);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    },
    async advance(ms) {
      const target = t + ms;
      await settle();
      while (fireNext(target)) await settle();
      t = target;
      await settle();
    },
    jump(ms) {
      t += ms;
      while (fireNext(t));
    },
    async run(promise, maxTimers = 1000) {
      let done = false;
      const tracked = promise.finally(() => {
        done = true;
      });
      tracked.catch(() => undefined);
      for (let i = 0; i < maxTimers; i++) {
        await settle();
        if (done) return tracked;
        if (!fireNext(Infinity)) {
          // Nothing scheduled on the virtual clock: something real (I/O) is still running.
          await new Promise<void>((r) => setTimeout(r, 5));
        }
      }
      throw new Error(`still pending after ${maxTimers} timers`);
    },
    pendingTimers: () => timers.length,
    sleepsUntil: (at) => timers.some((x) => x.at === at),
  };
}
