import type { AirtableRecord } from '../src/airtable/types.ts';

/**
 * Group commit for proxy writes. Every mirror apply takes the table's advisory lock, so
 * concurrent writes to one table run one after another anyway; instead of queueing on the lock,
 * writes that arrive while an apply for the same key is in flight are applied together in the
 * next one. Each caller's promise settles when the transaction holding its records has
 * committed, so read-your-writes holds; arrival order is kept (later records win).
 */
export class ApplyBatcher {
  private readonly lanes = new Map<string, Lane>();

  /** `apply` must write all given records in one transaction. */
  submit(
    key: string,
    records: AirtableRecord[],
    apply: (records: AirtableRecord[]) => Promise<void>,
  ): Promise<void> {
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { running: false, queue: [] }));
    const l = lane;
    return new Promise<void>((resolve, reject) => {
      l.queue.push({ records, apply, resolve, reject });
      if (!l.running) void this.drain(key, l);
    });
  }

  private async drain(key: string, lane: Lane): Promise<void> {
    lane.running = true;
    try {
      while (lane.queue.length > 0) {
        const batch = lane.queue.splice(0);
        const apply = batch[batch.length - 1].apply;
        try {
          await apply(batch.flatMap((p) => p.records));
          for (const p of batch) p.resolve();
        } catch (err) {
          if (batch.length === 1) {
            batch[0].reject(err);
            continue;
          }
          // One bad write must not fail its neighbours: apply them one by one.
          for (const p of batch) {
            try {
              await p.apply(p.records);
              p.resolve();
            } catch (e) {
              p.reject(e);
            }
          }
        }
      }
    } finally {
      lane.running = false;
      if (lane.queue.length === 0) this.lanes.delete(key);
    }
  }
}

interface Pending {
  records: AirtableRecord[];
  apply: (records: AirtableRecord[]) => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Lane {
  running: boolean;
  queue: Pending[];
}
