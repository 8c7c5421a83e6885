import type { BudgetPriority } from './budget-types.ts';

/** A request waiting for a slot of one base. */
export interface Waiter {
  priority: BudgetPriority;
  /** The fairness key (see AcquireOptions.client). */
  client: string;
  tokenKey: string | undefined;
  failWhenPenalized: boolean;
  /** Part of a claim the authority has not answered yet. */
  inFlight: boolean;
  /** Refused at least once (counted in `waits`), and by its token (`tokenWaits`). */
  waited: boolean;
  heldByToken: boolean;
  /** Granted, refused or aborted: nothing more may happen to it. */
  done: boolean;
  /** Held back by its own token's window: not worth asking for before this time. */
  retryAt: number;
}

interface ClientLine<W> {
  waiters: W[];
  /** The grant counter when this client was last served: the round robin between clients. */
  lastServed: number;
}

/**
 * The waiters of one base, in the order they should be served: high priority before normal;
 * within high priority round robin by client, so one caller (a token, a client address) flooding
 * a base gets one turn in n rather than every slot; within a client, and for normal priority,
 * first come first served. A client may queue at most `maxPerClient` high-priority waiters.
 */
export class FairQueue<W extends Waiter> {
  private readonly high = new Map<string, ClientLine<W>>();
  private readonly normal: W[] = [];
  private count = 0;

  constructor(private readonly maxPerClient: number) {}

  get size(): number {
    return this.count;
  }

  /** False (nothing queued) when the client already has its share of high-priority waiters. */
  push(w: W, limitClient: boolean): boolean {
    if (w.priority === 'normal') {
      this.normal.push(w);
    } else {
      let line = this.high.get(w.client);
      if (!line) this.high.set(w.client, (line = { waiters: [], lastServed: 0 }));
      if (limitClient && line.waiters.length >= this.maxPerClient) return false;
      line.waiters.push(w);
    }
    this.count++;
    return true;
  }

  remove(w: W): boolean {
    const list = w.priority === 'normal' ? this.normal : this.high.get(w.client)?.waiters;
    const i = list ? list.indexOf(w) : -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    this.count--;
    // An empty line keeps no state: a client back later starts a new turn.
    if (w.priority === 'high' && list.length === 0) this.high.delete(w.client);
    return true;
  }

  /** `w` (already removed) got a slot: its client goes to the back of the round robin. */
  served(w: W, grant: number): void {
    const line = w.priority === 'high' ? this.high.get(w.client) : undefined;
    if (line) line.lastServed = grant;
  }

  /** The first waiter in service order, or undefined. */
  head(): W | undefined {
    return this.next(1, () => true)[0];
  }

  /**
   * Up to `k` waiters that `pick` accepts, in service order: the high ones round robin by client
   * (the client served longest ago first), then the normal ones.
   */
  next(k: number, pick: (w: W) => boolean): W[] {
    const out: W[] = [];
    const lines = [...this.high.values()]
      .map((l) => ({ l, rest: l.waiters.filter(pick) }))
      .filter((x) => x.rest.length > 0)
      .sort((a, b) => a.l.lastServed - b.l.lastServed);
    for (let round = 0; out.length < k && lines.some((x) => x.rest.length > round); round++) {
      for (const x of lines) {
        if (out.length >= k) break;
        if (round < x.rest.length) out.push(x.rest[round]);
      }
    }
    for (const w of this.normal) {
      if (out.length >= k) break;
      if (pick(w)) out.push(w);
    }
    return out;
  }

  /** Every waiter (for penalty refusals); the order is not the service order. */
  all(): W[] {
    return [...[...this.high.values()].flatMap((l) => l.waiters), ...this.normal];
  }
}

/** Which of two waiters (of different bases) a contested slot goes to: high first, then round robin. */
export function ahead(a: Waiter, aServed: number, b: Waiter, bServed: number): boolean {
  if (a.priority !== b.priority) return a.priority === 'high';
  return aServed < bServed;
}
