import type { MiddlewareHandler } from 'hono';
import type { EmulatorClock } from '../clock.ts';
import { airtableError, MESSAGES } from '../errors.ts';

/** What `control.monthlyQuota()` reports for a token: the calls of this month and its quota. */
export interface MonthlyQuotaUsage {
  /** Calls a month; false: no quota (Business and Enterprise plans). */
  calls: number | false;
  /** Calls counted this month (UTC, emulator clock). */
  used: number;
  /** The first instant of the next month: when the count starts again. */
  resetsAt: string;
}

/**
 * Airtable's monthly call quota (docs/airtable-reference.md §2.1, "monthly call quota"): calls
 * are counted per workspace and calendar month (the emulator has no workspaces: a token stands
 * for its workspace); once the quota is spent every data call answers 429
 * PUBLIC_API_BILLING_LIMIT_EXCEEDED until the month resets. `/v0/meta/*` still answers, as the
 * one report in that section says; its calls are counted. A call refused (401, a rate 429, the
 * billing 429 itself) is not counted. Off unless a quota is set (`control.setMonthlyQuota`).
 */
export class MonthlyQuota {
  private readonly quotas = new Map<string, number>();
  /** `${token}|${month}` → calls. */
  private readonly used = new Map<string, number>();
  /** The quota of every token without its own; false: none. */
  private all: number | false = false;

  constructor(private readonly clock: EmulatorClock) {}

  /** Sets the quota of `token` (every token without one of its own when omitted); `used` presets this month's count. */
  set(calls: number | false, opts: { token?: string; used?: number } = {}): void {
    if (opts.token === undefined) this.all = calls;
    else if (calls === false) this.quotas.delete(opts.token);
    else this.quotas.set(opts.token, calls);
    if (opts.used !== undefined && opts.token !== undefined) this.used.set(this.key(opts.token), opts.used);
  }

  usage(token: string): MonthlyQuotaUsage {
    return {
      calls: this.quotaOf(token),
      used: this.used.get(this.key(token)) ?? 0,
      resetsAt: new Date(monthReset(this.clock.now())).toISOString(),
    };
  }

  private quotaOf(token: string): number | false {
    return this.quotas.get(token) ?? this.all;
  }

  private key(token: string): string {
    const d = new Date(this.clock.now());
    return `${token}|${d.getUTCFullYear()}-${d.getUTCMonth() + 1}`;
  }

  /** After auth: refuses a data call once the month's quota is spent; counts the calls answered. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const token = /^Bearer\s+(\S+)/i.exec(c.req.header('authorization') ?? '')?.[1];
      if (token === undefined) return next();
      const quota = this.quotaOf(token);
      const key = this.key(token);
      const used = this.used.get(key) ?? 0;
      const meta = new URL(c.req.url).pathname.startsWith('/v0/meta/');
      if (quota !== false && used >= quota && !meta) {
        throw airtableError(429, 'PUBLIC_API_BILLING_LIMIT_EXCEEDED', MESSAGES.billing);
      }
      await next();
      // Counted once answered: a rate-limited call is refused before it gets here.
      if (c.res.status !== 429) this.used.set(key, (this.used.get(key) ?? 0) + 1);
    };
  }
}

function monthReset(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
