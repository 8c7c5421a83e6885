/**
 * The monthly call quota's arithmetic (issue 17; docs/airtable-reference.md §2.1: Airtable counts
 * calls per workspace and calendar month, Free 1,000, Team 100,000). Pure: counts and times in,
 * figures out.
 */

/** The UTC calendar month holding `now`: its first instant and the next month's (the reset). */
export function monthBounds(now: number): { start: number; reset: number } {
  const d = new Date(now);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const reset = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { start, reset };
}

/** Below this much of the month, the rate so far is extrapolated over this much instead. */
const MIN_ELAPSED_MS = 60 * 60 * 1000;

/**
 * Calls the month will have seen at its end at the rate so far. The first hour is extrapolated
 * as an hour, so the calls of a start-up (a first sweep) do not project as a month of them.
 */
export function projectMonth(monthToDate: number, now: number): number {
  const { start, reset } = monthBounds(now);
  const elapsed = Math.max(MIN_ELAPSED_MS, now - start);
  return Math.round(monthToDate * ((reset - start) / elapsed));
}

export interface QuotaState {
  /** Calls a month; null is unlimited (Business and Enterprise plans). */
  budget: number | null;
  monthToDate: number;
  projection: number;
  /** What background work may spend: the budget less the apps' share. */
  backgroundLimit: number | null;
  /**
   * How much background work stretches its windows and sweep intervals: 1 while the projection
   * fits the background limit, the ratio by which it would pass it otherwise (capped).
   */
  spacing: number;
  /** Background work stops until `resumesAt`: `billing` (Airtable's 429) or `apps_share`. */
  paused: 'billing' | 'apps_share' | null;
  resumesAt: number | null;
}

export const MAX_SPACING = 60;

export function quotaState(opts: {
  budget: number | null;
  monthToDate: number;
  now: number;
  /** Fraction of the budget kept for the apps' calls through the proxy, [0, 1). */
  appShare: number;
  billingPausedUntil: number | null;
}): QuotaState {
  const { budget, monthToDate, now } = opts;
  const projection = projectMonth(monthToDate, now);
  const { reset } = monthBounds(now);
  if (opts.billingPausedUntil !== null && opts.billingPausedUntil > now) {
    return {
      budget,
      monthToDate,
      projection,
      backgroundLimit: budget === null ? null : Math.floor(budget * (1 - opts.appShare)),
      spacing: MAX_SPACING,
      paused: 'billing',
      resumesAt: opts.billingPausedUntil,
    };
  }
  if (budget === null) {
    return {
      budget,
      monthToDate,
      projection,
      backgroundLimit: null,
      spacing: 1,
      paused: null,
      resumesAt: null,
    };
  }
  const backgroundLimit = Math.floor(budget * (1 - opts.appShare));
  // Every call counted (the apps' included) is held against background's part: conservative, and
  // it means background work alone can never reach into what is kept for the apps.
  if (monthToDate >= backgroundLimit) {
    return {
      budget,
      monthToDate,
      projection,
      backgroundLimit,
      spacing: MAX_SPACING,
      paused: 'apps_share',
      resumesAt: reset,
    };
  }
  const spacing =
    projection <= backgroundLimit ? 1 : Math.min(MAX_SPACING, projection / Math.max(1, backgroundLimit));
  return { budget, monthToDate, projection, backgroundLimit, spacing, paused: null, resumesAt: null };
}

/**
 * How long pings for a base are gathered before one payload drain: under the freshness target
 * by a margin for the ping's delivery and the drain itself (at most 5 s, at most a fifth), and
 * stretched by the quota's spacing when calls run short.
 */
export function drainWindowMs(maxLagSeconds: number, spacing: number): number {
  const target = maxLagSeconds * 1000;
  const margin = Math.min(5000, target / 5);
  return Math.round((target - margin) * Math.max(1, spacing));
}
