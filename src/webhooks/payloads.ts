import { drainPayloads, type DrainResult } from './apply.ts';
import { isHookGone, type WebhookContext } from './context.ts';
import { catchUp, recreateHook } from './hook.ts';
import { loadSourceBase, notePing } from './store.ts';

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
  /** Per source, the fence taken after its last drain (src/webhooks/trust.ts). */
  private readonly drainFences = new Map<string, string>();

  constructor(private readonly ctx: WebhookContext) {}

  ping(sourceId: string): void {
    const { db, log } = this.ctx.deps;
    void notePing(db, sourceId, this.ctx.now()).catch(() => undefined);
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

  /** A drain by a caller that holds the source's lock already. */
  async drainLocked(sourceId: string): Promise<DrainResult | undefined> {
    const { deps } = this.ctx;
    const source = await loadSourceBase(deps.db, sourceId);
    if (!source) return undefined;
    const client = await deps.clientFor(source);
    let result: DrainResult;
    try {
      result = await drainPayloads(
        {
          db: deps.db,
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

  /** Resolves when no drain is running or queued. */
  async idle(): Promise<void> {
    while (this.drains.size > 0) await Promise.all([...this.drains.values()].map((d) => d.run));
  }
}
