import type { ClaimItem } from './budget-types.ts';

/** Calls to add to the month's counts: per token key and base (`*`: not tracked). */
export interface CallCount {
  tokenKey: string;
  baseId: string;
  calls: number;
}

/**
 * Calls granted in this process without Postgres counting them (by the fallback while Postgres is
 * away, or from the stock of leased slots), owed to the month's counts until a statement adds
 * them. `take` empties it for that statement; `giveBack` returns what a failed one did not add.
 */
export class OwedCalls {
  private readonly byKey = new Map<string, number>();

  get size(): number {
    return this.byKey.size;
  }

  add(item: Pick<ClaimItem, 'countToken' | 'countBase'>, calls = 1): void {
    const key = `${item.countToken}\t${item.countBase}`;
    this.byKey.set(key, (this.byKey.get(key) ?? 0) + calls);
  }

  take(): CallCount[] {
    const rows = [...this.byKey].map(([key, calls]) => {
      const [tokenKey, baseId] = key.split('\t');
      return { tokenKey, baseId, calls };
    });
    this.byKey.clear();
    return rows;
  }

  giveBack(rows: CallCount[]): void {
    for (const r of rows) this.add({ countToken: r.tokenKey, countBase: r.baseId }, r.calls);
  }
}
