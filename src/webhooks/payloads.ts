import type { Database } from '../db/database.ts';
import { drainPayloads, type DrainResult } from './apply.ts';
import { isHookGone, type WebhookContext } from './context.ts';
import { catchUp, recreateHook } from './hook.ts';
import { loadSourceBase, loadWebhook, notePing } from './store.ts';

/**
 * Payloads in: a verified ping leads to a drain of the source's hook (payloads read from its
 * cursor, records fetched and applied). Pings during a drain coalesce into one more drain. A
 * hook Airtable lost or broke is re-created, and payloads purged before they were read are made
 * up for by a catch-up sweep.
 */
export class PayloadDrains {
  /** Per source: the running drain, and whether pings came while it ran. */
  private readonly drains = new Map<string, { run: Promise<void>; again: boolean }>();
  /** Set while the service stops: a running drain is not repeated for pings that came meanwhile. */
  stopping = false;

  constructor(private readonly ctx: WebhookContext) {}

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
      running.again = true;
      return;
    }
    const state = { run: Promise.resolve(), again: false };
    state.run = (async () => {
      do {
        state.again = false;
        try {
          await this.drain(sourceId);
        } catch (err) {
          log.warn({ source: sourceId, err: (err as Error).message }, 'webhook drain failed');
        }
      } while (state.again && !this.stopping);
    })().finally(() => this.drains.delete(sourceId));
    this.drains.set(sourceId, state);
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

  /** Resolves when no drain is running or queued. */
  async idle(): Promise<void> {
    while (this.drains.size > 0) await Promise.all([...this.drains.values()].map((d) => d.run));
  }
}
