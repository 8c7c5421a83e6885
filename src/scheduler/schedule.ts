/**
 * When a table runs next (pure). Frequencies and time of day come from its sync config (issue 5).
 *
 * - Never synced: due now.
 * - Without a time of day: fixed rate from the start of the last run, `start + interval`.
 * - With a time of day (UTC): runs sit on the grid `anchor + k·interval`, where the anchor is that
 *   time on the day of the last run; the next slot is the first one after the last run started.
 *   A daily table at 02:00 stays at 02:00 however long its runs take.
 * - Jitter (added by the caller) spreads tables with the same schedule so they don't all hit
 *   Airtable's per-base budget at once.
 * - After failures, a run is retried sooner than its period would allow, backing off
 *   exponentially: 30 s, 1 min, 2 min, … capped at 6 h.
 */
import { frequencyMs } from '../bookkeeping/frequency.ts';

const DAY = 86_400_000;

export interface ScheduleConfig {
  syncFrequency: string;
  /** 'HH:MM' or 'HH:MM:SS' (Postgres `time` text), UTC; null for none. */
  syncTimeOfDay: string | null;
}

/** Milliseconds after midnight UTC of a 'HH:MM[:SS]' string. */
export function timeOfDayMs(t: string): number {
  const [h, m, s = '0'] = t.split(':');
  return ((Number(h) * 60 + Number(m)) * 60 + Math.floor(Number(s))) * 1000;
}

/**
 * The next scheduled start, or null for `never` (manual runs only). `lastStart` is when the last
 * run started (or, lacking that, when the table last synced); null when it never ran.
 */
export function nextRunAt(cfg: ScheduleConfig, lastStart: number | null, now: number): number | null {
  const interval = frequencyMs(cfg.syncFrequency);
  if (interval === undefined) return null;
  if (lastStart === null) return now;
  if (!cfg.syncTimeOfDay) return lastStart + interval;
  const anchor = Math.floor(lastStart / DAY) * DAY + timeOfDayMs(cfg.syncTimeOfDay);
  // First grid point strictly after lastStart.
  const k = Math.floor((lastStart - anchor) / interval) + 1;
  return anchor + k * interval;
}

/** Jitter to add to a scheduled start: up to 10 % of the interval, at most 5 minutes. */
export function jitterMs(cfg: ScheduleConfig, random: () => number): number {
  const interval = frequencyMs(cfg.syncFrequency) ?? 0;
  return Math.floor(random() * Math.min(interval * 0.1, 300_000));
}

export const BACKOFF_BASE_MS = 30_000;
export const BACKOFF_MAX_MS = 6 * 3_600_000;

/** Delay before retrying after `failures` consecutive failed runs (≥ 1). */
export function backoffMs(failures: number): number {
  const n = Math.max(1, failures);
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(n - 1, 20));
}
