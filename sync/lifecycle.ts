import { Interruption } from '../src/lifecycle/interruption.ts';
import type { BaseOwnership } from './ownership.ts';
import type { RunProgress } from './run-progress.ts';

const STOPPED = 'interrupted: the process stopped during the run';

/**
 * The syncer's process lifecycle: its ownership of bases (when it is the syncer's own: started
 * and stopped here; a new owner of a base recovers what a crash left behind, sync/base-recovery.ts),
 * the runs in flight (awaited by `stop`), and the abort controllers of running syncs — one per
 * call, aborted by `stop()` (as an interruption) or the caller's signal, and registered under
 * table keys so `cancel` finds them.
 */
export class SyncerProcess {
  private readonly cancellable = new Map<string, Set<AbortController>>();
  private readonly live = new Set<AbortController>();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly deps: {
      ownership: BaseOwnership;
      /** The ownership is the syncer's own (started and stopped with it), not the composer's. */
      ownsOwnership: boolean;
      runProgress: RunProgress;
    },
  ) {}

  /**
   * Starts recording progress and, with its own ownership, takes every free base (a new owner
   * first drops a crashed rebuild's swap schema and marks the runs a crash interrupted Failed).
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.deps.runProgress.start();
    if (this.deps.ownsOwnership) await this.deps.ownership.start();
  }

  /** Interrupts running syncs, waits for them to settle, and gives up the bases it owns. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const ac of this.live) ac.abort(new Interruption(STOPPED));
    await Promise.allSettled([...this.inflight]);
    await this.deps.runProgress.stop();
    if (this.deps.ownsOwnership) await this.deps.ownership.stop();
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
    if (this.stopped) ac.abort(new Interruption(STOPPED));
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
