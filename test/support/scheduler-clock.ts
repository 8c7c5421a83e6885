import type { Clock } from '../../src/scheduler/clock.ts';
import { createFakeClock } from './fake-clock.ts';
import { waitUntil } from './wait.ts';

/**
 * Transitional: the scheduler tests' old names over the one fake clock (fake-clock.ts) and the
 * one wait helper (wait.ts). New tests use those directly: `createFakeClock(t)` is a `Clock`,
 * `jump(ms)` is this `advance(ms)`, `pendingTimers()` is `pendingSleepers`.
 */
export class FakeClock implements Clock {
  private readonly clock;

  constructor(t: number) {
    this.clock = createFakeClock(t);
  }

  now(): number {
    return this.clock.now();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.clock.sleep(ms, signal);
  }

  get pendingSleepers(): number {
    return this.clock.pendingTimers();
  }

  /** Moves time forward and wakes every sleeper whose time has come. */
  advance(ms: number): void {
    this.clock.jump(ms);
  }
}

export function until(cond: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  return waitUntil(cond, { what }).then(() => undefined);
}
