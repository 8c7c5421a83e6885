import { failInterruptedRuns } from '../src/bookkeeping/tables.ts';
import { listSources } from '../src/bookkeeping/sources.ts';
import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { cleanupSwap } from '../src/mirror/index.ts';
import type { BaseOwnership } from './ownership.ts';
import type { RunProgress } from './run-progress.ts';

/**
 * The syncer's process lifecycle: start-up recovery of what a crash left behind (on the bases this
 * process owns), the runs in flight (awaited by `stop`), and the abort controllers of running
 * syncs — one per call, aborted by `stop()` or the caller's signal, and registered under table
 * keys so `cancel` finds them.
 */
export class SyncerProcess {
  private readonly cancellable = new Map<string, Set<AbortController>>();
  private readonly live = new Set<AbortController>();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly deps: {
      db: Database;
      log: Logger;
      ownership: BaseOwnership;
      runProgress: RunProgress;
    },
  ) {}

  /** Start-up work: drop leftover swap schemas of crashed rebuilds, fail runs a crash interrupted. */
  async start(): Promise<void> {
    const { db, log, ownership } = this.deps;
    this.deps.runProgress.start();
    // Start-up cleanup is only safe on bases no other live syncer process works on (a `sync --once`
    // next to `airmirror start` must not drop the other's swap schema mid-rebuild nor fail its runs).
    if (!(await ownership.claim())) {
      log.info('another syncer process is running; skipping start-up cleanup');
      return;
    }
    const sources = (await listSources(db)).filter((s) => ownership.owns(s.id));
    for (const s of sources) {
      if (await cleanupSwap(db, s.schemaName)) {
        log.warn({ source: s.id, schema: s.schemaName }, 'dropped the swap schema of an interrupted rebuild');
      }
    }
    const n = await failInterruptedRuns(
      db,
      sources.map((s) => s.id),
    );
    if (n > 0) log.warn({ tables: n }, 'marked tables interrupted by a previous stop as Failed');
  }

  /** Aborts running syncs, waits for them to settle, and gives up the bases it owns. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const ac of this.live) ac.abort(new Error('syncer stopped'));
    await Promise.allSettled([...this.inflight]);
    await this.deps.runProgress.stop();
    await this.deps.ownership.release();
  }

  /** Awaited by `stop()`. */
  tracked<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * A controller aborted by the caller's signal or by stop(). `done()` unlinks it again, so a
   * long-lived caller signal (a scheduler's) does not collect one listener per run.
   */
  controller(signal?: AbortSignal): { ac: AbortController; done(): void } {
    const ac = new AbortController();
    if (this.stopped) ac.abort(new Error('syncer stopped'));
    this.live.add(ac);
    const onAbort = () => ac.abort(signal!.reason);
    if (signal?.aborted) ac.abort(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });
    return {
      ac,
      done: () => {
        this.live.delete(ac);
        signal?.removeEventListener('abort', onAbort);
      },
    };
  }

  /** Registers an abort controller under table keys so `cancel` finds it; returns the unregistering. */
  track(keys: string[], ac: AbortController): () => void {
    for (const k of keys) {
      let set = this.cancellable.get(k);
      if (!set) this.cancellable.set(k, (set = new Set()));
      set.add(ac);
    }
    return () => {
      for (const k of keys) {
        const set = this.cancellable.get(k);
        set?.delete(ac);
        if (set?.size === 0) this.cancellable.delete(k);
      }
    };
  }

  /** Aborts the runs registered under `key`; false when none runs. */
  cancel(key: string): boolean {
    const set = this.cancellable.get(key);
    if (!set || set.size === 0) return false;
    for (const ac of set) ac.abort(new Error('cancelled'));
    return true;
  }
}
