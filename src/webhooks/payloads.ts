import type { Database } from '../db/database.ts';
import { drainPayloads, type DrainResult } from './apply.ts';
import { isHookGone, type WebhookContext } from './context.ts';
import { catchUp, recreateHook } from './hook.ts';
import { loadSourceBase, loadWebhook, notePing } from './store.ts';
import { abortableSleep } from '../lifecycle/clock.ts';

/**
 * Payloads in: a verified ping leads to a drain of the source's hook (payloads read from its
 * cursor, records fetched and applied). Pings during a drain coalesce into one more drain. A
 * hook Airtable lost or broke is re-created, and payloads purged before they were read are made
 * up for by a catch-up sweep.
 */
export class PayloadDrains {
  /** Per source: the running drain, and whether pings came while it ran. */
  private readonly drains = new Map<
    string,
    { run: Promise<void>; again: boolean; gathering: boolean; firstAt: number }
  >();
  /** Set while the service stops: a running drain is not repeated for pings that came meanwhile. */
  stopping = false;
  /** Per source, the fence taken after its last drain (src/webhooks/trust.ts). */
  private readonly drainFences = new Map<string, string>();

  constructor(private readonly ctx: WebhookContext) {}

  /** Aborted by stop(): a drain still gathering pings is dropped (start() reads what it missed). */
  private waits = new AbortController();

  ping(sourceId: string): void {
    const { db, owner } = this.ctx.deps;
    void notePing(db, sourceId, this.ctx.now()).catch(() => undefined);
    // Any process may receive the ping (the load balancer decides); the base's owner drains.
    if (owner && !owner.owns(sourceId)) owner.forward(sourceId);
    else this.kick(sourceId);
  }

  /**
   * Drains what came while this process did not own the base (taken over, or just started): a
   * ping may have gone to a process that was not its owner, or to none.
   */
  async resume(sourceId: string): Promise<void> {
    const { db, owner } = this.ctx.deps;
    if (owner && !owner.owns(sourceId)) return;
    if (await loadWebhook(db, sourceId)) this.kick(sourceId);
  }

  /** A drain soon; a kick during a drain coalesces into one more. */
  private kick(sourceId: string): void {
    const { log } = this.ctx.deps;
    const running = this.drains.get(sourceId);
    if (running) {
      // While gathering, the coming drain reads this ping's payloads anyway.
      if (!running.gathering && !running.again) {
        running.again = true;
        running.firstAt = this.ctx.now().getTime();
      }
      return;
    }
    const state = {
      run: Promise.resolve(),
      again: false,
      gathering: false,
      firstAt: this.ctx.now().getTime(),
    };
    state.run = (async () => {
      do {
        state.again = false;
        if (!(await this.gather(sourceId, state))) return;
        try {
          await this.drain(sourceId);
        } catch (err) {
          log.warn({ source: sourceId, err: (err as Error).message }, 'webhook drain failed');
        }
      } while (state.again && !this.stopping);
    })().finally(() => this.drains.delete(sourceId));
    this.drains.set(sourceId, state);
  }

  /**
   * Coalescing (issue 17): pings within the source's window — its freshness target, stretched
   * when the monthly quota runs short (src/quota) — become one drain, a read of up to 50 payloads
   * per call, instead of one per change. The window counts from the first ping not yet read.
   * False when the service stopped meanwhile.
   */
  private async gather(sourceId: string, state: { gathering: boolean; firstAt: number }): Promise<boolean> {
    const { drainWindowMs, sleep, log } = this.ctx.deps;
    if (!drainWindowMs) return true;
    const windowMs = await drainWindowMs(sourceId).catch((err: unknown) => {
      log.warn({ source: sourceId, err: (err as Error).message }, 'drain window unknown; draining now');
      return 0;
    });
    const waitMs = state.firstAt + windowMs - this.ctx.now().getTime();
    if (waitMs <= 0) return !this.stopping;
    state.gathering = true;
    try {
      await (sleep ?? abortableSleep)(waitMs, this.waits.signal).catch(() => undefined);
    } finally {
      state.gathering = false;
    }
    return !this.stopping && !this.waits.signal.aborted;
  }

  /** stop(): drains gathering pings end without reading; start(): a new set of waits. */
  abortWaits(): void {
    this.waits.abort();
  }

  resetWaits(): void {
    if (this.waits.signal.aborted) this.waits = new AbortController();
  }

  drain(sourceId: string): Promise<DrainResult | undefined> {
    return this.ctx.exclusive(sourceId, () => this.drainLocked(sourceId));
  }

  /**
   * A drain by a caller that holds the source's lock already. In the base's owner it runs on its
   * lease (every write fenced by ownership); elsewhere (a rotation asked of another process) the
   * lock alone keeps it the only drain, and each page still moves the cursor once.
   */
  async drainLocked(sourceId: string): Promise<DrainResult | undefined> {
    const lease = await this.ctx.deps.owner?.enter(sourceId);
    try {
      return await this.drainOn(sourceId, lease?.db ?? this.ctx.deps.db);
    } finally {
      lease?.release();
    }
  }

  private async drainOn(sourceId: string, db: Database): Promise<DrainResult | undefined> {
    const { deps } = this.ctx;
    const source = await loadSourceBase(db, sourceId);
    if (!source) return undefined;
    const client = await deps.clientFor(source);
    let result: DrainResult;
    try {
      result = await drainPayloads(
        {
          db,
          log: deps.log,
          now: this.ctx.now,
          syncer: deps.syncer,
          hashCache: deps.hashCache,
          sweepThreshold: deps.sweepThreshold ?? 1000,
          maxDependencyDepth: deps.maxDependencyDepth ?? 3,
          maxPayloadsPerBatch: deps.maxPayloadsPerBatch ?? 500,
          drainFences: this.drainFences,
        },
        source,
        client,
      );
    } catch (err) {
      if (isHookGone(err)) {
        await recreateHook(this.ctx, source, client, 'webhook no longer exists at Airtable');
        return undefined;
      }
      throw err;
    }
    if (result.errorCode) {
      await recreateHook(this.ctx, source, client, `webhook reported ${result.errorCode}`);
    } else if (result.gap) {
      deps.log.warn({ source: sourceId }, 'webhook payloads were purged before being read; catching up');
      await catchUp(this.ctx, sourceId);
    }
    return result;
  }

  /** True while a drain reads or applies (not while it only gathers pings). */
  busy(): boolean {
    return [...this.drains.values()].some((d) => !d.gathering);
  }

  /** Resolves when no drain is running or queued. */
  async idle(): Promise<void> {
    while (this.drains.size > 0) await Promise.all([...this.drains.values()].map((d) => d.run));
  }
}
