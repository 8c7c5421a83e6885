import type { Queryable } from '../db/database.ts';
import { currentSnapshot, maxOutboxId, outboxIdsAfter } from './store.ts';

/**
 * The outbox's safe horizon: the highest id H such that every id ≤ H is either visible or can
 * never appear. Ids come from a sequence when a row is inserted, but transactions commit in any
 * order: id 11 can be visible while id 10 is still in flight. A deliverer that moved its cursor
 * past 10 would lose that event for good, so it only reads up to H.
 *
 * A missing id (a gap) is either in flight or rolled back. The mirror's write path writes the
 * mirror row before its outbox row, so a transaction holding a gap id already had a transaction
 * id when we saw the gap. We note the snapshot's xmax at that moment; once the oldest running
 * transaction (snapshot xmin) is at or past it, every transaction that could fill the gap has
 * ended, and whatever is still missing is a rollback, skipped.
 */
export class OutboxHorizon {
  private horizon: number | undefined;
  /** The gap we are waiting on: ids (horizon, upTo) and the xmax when it was seen. */
  private gap: { upTo: number; xmax: bigint; settled: boolean } | undefined;

  constructor(private readonly scanLimit = 10_000) {}

  /** Starts at `from` (ids ≤ from are treated as settled), e.g. the lowest subscription cursor. */
  reset(from?: number): void {
    this.horizon = from;
    this.gap = undefined;
  }

  current(): number | undefined {
    return this.horizon;
  }

  /** The last advance stopped at a gap that may still fill: worth looking again soon. */
  get blocked(): boolean {
    return this.gap !== undefined && !this.gap.settled && this.gap.upTo > (this.horizon ?? 0);
  }

  async advance(db: Queryable): Promise<number> {
    let h = this.horizon ?? 0;
    for (;;) {
      const rows = (await db.query<{ id: number | string }>(outboxIdsAfter(h, this.scanLimit))).rows;
      let blocked = false;
      for (const row of rows) {
        const id = Number(row.id);
        if (id === h + 1) {
          h = id;
          continue;
        }
        // A gap (h, id). A gap noted earlier with a higher bound covers it: every missing id
        // below that bound was already allocated when the gap was first seen.
        if (!this.gap || this.gap.upTo <= h) {
          const snap = (await db.query<{ xmax: string }>(currentSnapshot())).rows[0];
          this.gap = { upTo: id, xmax: BigInt(snap.xmax), settled: false };
        }
        if (!this.gap.settled) {
          const snap = (await db.query<{ xmin: string }>(currentSnapshot())).rows[0];
          this.gap.settled = BigInt(snap.xmin) >= this.gap.xmax;
        }
        if (this.gap.settled) {
          h = id;
          continue;
        }
        blocked = true;
        break;
      }
      this.horizon = h;
      if (blocked || rows.length < this.scanLimit) return h;
    }
  }

  /** For callers that only need "everything visible now" (tests, tools). */
  static async max(db: Queryable): Promise<number> {
    return Number((await db.query<{ id: number | string }>(maxOutboxId())).rows[0].id);
  }
}
