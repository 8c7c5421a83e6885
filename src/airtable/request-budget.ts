import { systemNow, systemSleep, type Now, type Sleep } from '../lifecycle/clock.ts';
import { tokenKeyOf } from './token-key.ts';
import {
  BudgetRefusedError,
  type AcquireOptions,
  type RateBudget,
  type RateBudgetStats,
} from './budget-types.ts';
import type { BudgetWindows } from './budget-windows.ts';
import type { PostgresAuthority } from './shared-budget.ts';

/**
 * The shared budget for one request of a runtime that keeps no process (Cloudflare Workers): no
 * front, no queue — the request claims its own slot from Postgres (one round trip on the
 * request's connection), sleeps until its start time, and asks again after the time Postgres
 * names when the base or token is full. The isolate's memory (`IsolateBudgetState`) keeps the
 * fallback windows, penalties seen and the bases seen valid, for as long as the isolate lives.
 */
export interface IsolateBudgetState {
  windows: BudgetWindows;
  /** Base ids Airtable accepted a request to lately (most recent last); bounded. */
  tracked: Map<string, true>;
}

const MAX_TRACKED = 1000;

export function createRequestBudget(opts: {
  authority: PostgresAuthority;
  state: IsolateBudgetState;
  penaltyMs: number;
  /** Work that must finish after the answer (Workers' ctx.waitUntil). */
  waitUntil?(p: Promise<unknown>): void;
  now?: Now;
  sleep?: Sleep;
}): RateBudget {
  const { authority, state } = opts;
  const now = opts.now ?? systemNow;
  const sleep = opts.sleep ?? systemSleep;
  const sent = new Map<string, number>();

  const track = (baseId: string) => {
    state.tracked.delete(baseId);
    state.tracked.set(baseId, true);
    if (state.tracked.size > MAX_TRACKED) state.tracked.delete(state.tracked.keys().next().value!);
  };

  const stats = (baseId: string): RateBudgetStats => {
    const blocked = state.windows.blockedUntil(baseId);
    return {
      sent: sent.get(baseId) ?? 0,
      waits: 0,
      tokenWaits: 0,
      rateLimited: 0,
      penalties: 0,
      queued: 0,
      blockedUntil: blocked > now() ? blocked : null,
    };
  };

  return {
    async acquire(baseId, { priority = 'normal', signal, token, failWhenPenalized }: AcquireOptions = {}) {
      const tokenKey = token ? tokenKeyOf(token) : undefined;
      const item = {
        baseId,
        tokenKey,
        high: priority === 'high',
        countToken: tokenKey ?? '*',
        countBase: state.tracked.has(baseId) ? baseId : '*',
      };
      for (;;) {
        signal?.throwIfAborted();
        const [a] = await authority.claim([item]);
        if (a.delay !== null) {
          if (a.delay > 0) await sleep(a.delay, signal);
          sent.set(baseId, (sent.get(baseId) ?? 0) + 1);
          return undefined; // not paced: a Worker claims unnamed, its windows count every margin
        }
        if (a.reason === 'penalty' && failWhenPenalized) throw new BudgetRefusedError('penalty');
        await sleep(Math.max(1, a.retry ?? 1), signal);
      }
    },
    penalize(baseId) {
      const done = authority.penalizeNow(baseId, opts.penaltyMs);
      if (opts.waitUntil) opts.waitUntil(done);
    },
    stats,
    allStats: () => Object.fromEntries([...state.tracked.keys()].map((id) => [id, stats(id)])),
    track,
    heldBases: () => state.tracked.size,
  };
}
