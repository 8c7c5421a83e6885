/**
 * The scheduler's time: `now` and an abortable `sleep`, injected so tests drive a fake clock
 * instead of waiting. The system clock reuses the Airtable client's abortable sleep.
 */
import { systemNow, systemSleep } from '../lifecycle/clock.ts';

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or rejects as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = { now: systemNow, sleep: systemSleep };
