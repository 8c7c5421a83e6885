import type { CreateWebhookResponse, ListPayloadsResponse, WebhookInfo } from '../types.ts';
import { pause, type EmulatorClock } from '../clock.ts';
import { airtableError, invalidRequest } from '../errors.ts';
import { makeId, type Rng } from '../ids.ts';
import type { StoreChange } from '../store/changes.ts';
import type { EmulatorStore } from '../store/store.ts';
import { storeBaseView } from './base-view.ts';
import {
  EXPIRED_VISIBLE_MS,
  HOOK_TTL_MS,
  hookInfo,
  isHookEnabled,
  PAYLOAD_RETENTION_MS,
  type Hook,
} from './hook.ts';
import { DEFAULT_NOTIFIER_OPTIONS, PingNotifier, type NotifierOptions } from './notifier.ts';
import { buildPayload, errorPayload, invalidation } from './payloads.ts';
import { parseCreateBody } from './specification.ts';

export interface EmulatorWebhooksOptions {
  store: EmulatorStore;
  clock: EmulatorClock;
  /** Every ping goes through this fetch (the emulator's injected one). */
  fetch: typeof fetch;
  /** Source of webhook ids (the emulator's seeded rng keeps ids reproducible). */
  rng: Rng;
  notifier?: Partial<NotifierOptions>;
  /** docs/airtable-reference.md §2.2 / §4.6: 10 per base. */
  maxHooksPerBase?: number;
}

/** docs/airtable-reference.md §4.5: at most 50 payloads per list call. */
export const MAX_PAYLOADS_PER_PAGE = 50;

/**
 * The emulator's webhooks (docs/airtable-reference.md §4): registration, payloads built from the store's
 * change feed, pings with MAC, expiry on the emulator clock. Listens to the store only while at least one
 * hook exists, so bases without hooks pay nothing for change tracking.
 *
 * Lifecycle: `start()` runs the retry loop (failed pings are retried on the emulator clock);
 * `stop()` ends it, cancels pending pings and retries, waits for pings in flight and stops
 * listening to the store. `flush()` sends coalesced pings immediately and waits for them.
 */
export class EmulatorWebhooks {
  private readonly hooks = new Map<string, Hook>();
  private readonly transactionNumbers = new Map<string, number>();
  private readonly notifier: PingNotifier;
  private readonly maxPerBase: number;
  private unsubscribe?: () => void;
  private loop?: { abort: AbortController; done: Promise<void> };

  constructor(private readonly opts: EmulatorWebhooksOptions) {
    this.maxPerBase = opts.maxHooksPerBase ?? 10;
    this.notifier = new PingNotifier(
      opts.fetch,
      opts.clock,
      { ...DEFAULT_NOTIFIER_OPTIONS, ...opts.notifier },
      (hook) => isHookEnabled(hook, opts.clock.now()),
    );
  }

  private now(): number {
    return this.opts.clock.now();
  }

  /**
   * Drop hooks past their readable window and payloads past retention (docs/airtable-reference.md §4.5,
   * docs/airtable-reference.md §4.6).
   */
  private prune(): void {
    const now = this.now();
    for (const hook of this.hooks.values()) {
      if (now >= hook.expiresAt + EXPIRED_VISIBLE_MS) this.forget(hook.id);
      else {
        // Retention runs while the hook lives; an expired hook's payloads stay readable with it
        // (docs/airtable-reference.md §4.6), so age is measured up to the expiry at most.
        const ref = Math.min(now, hook.expiresAt - 1);
        hook.payloads = hook.payloads.filter((p) => ref < p.createdAt + PAYLOAD_RETENTION_MS);
      }
    }
  }

  private listen(): void {
    this.unsubscribe ??= this.opts.store.onChange((change) => this.onChange(change));
  }

  private forget(id: string): void {
    this.hooks.delete(id);
    this.notifier.reset(id);
    if (this.hooks.size === 0) {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
    }
  }

  private hooksOf(baseId: string): Hook[] {
    return [...this.hooks.values()].filter((h) => h.baseId === baseId);
  }

  private requireHook(baseId: string, webhookId: string): Hook {
    this.opts.store.requireBase(baseId);
    this.prune();
    const hook = this.hooks.get(webhookId);
    if (!hook || hook.baseId !== baseId)
      throw airtableError(404, 'NOT_FOUND', `Could not find webhook ${webhookId}`);
    return hook;
  }

  create(baseId: string, body: unknown): CreateWebhookResponse {
    this.opts.store.requireBase(baseId);
    this.prune();
    const { notificationUrl, specification, scope } = parseCreateBody(
      body,
      storeBaseView(this.opts.store, baseId),
    );
    if (this.hooksOf(baseId).length >= this.maxPerBase) {
      // The limit is documented (docs/airtable-reference.md §2.2); the error type is not, so this one is descriptive.
      throw airtableError(422, 'TOO_MANY_WEBHOOKS', `A base can have at most ${this.maxPerBase} webhooks`);
    }
    const secret = new Uint8Array(32);
    crypto.getRandomValues(secret);
    const hook: Hook = {
      id: makeId('ach', this.opts.rng),
      baseId,
      macSecretBase64: btoa(String.fromCharCode(...secret)),
      notificationUrl,
      specification,
      scope,
      expiresAt: this.now() + HOOK_TTL_MS,
      errored: false,
      areNotificationsEnabled: true,
      payloads: [],
      nextPayloadNumber: 1,
      lastSuccessfulNotificationTime: null,
      lastNotificationResult: null,
    };
    this.hooks.set(hook.id, hook);
    this.unsubscribe ??= this.opts.store.onChange((change) => this.onChange(change));
    return {
      id: hook.id,
      macSecretBase64: hook.macSecretBase64,
      expirationTime: new Date(hook.expiresAt).toISOString(),
    };
  }

  list(baseId: string): { webhooks: WebhookInfo[] } {
    this.opts.store.requireBase(baseId);
    this.prune();
    this.notifier.runDue(this.hooks.values());
    return { webhooks: this.hooksOf(baseId).map((h) => hookInfo(h, this.now())) };
  }

  delete(baseId: string, webhookId: string): void {
    this.requireHook(baseId, webhookId);
    this.forget(webhookId);
  }

  /** Refresh only works while the hook is still active (docs/airtable-reference.md §4.6). */
  refresh(baseId: string, webhookId: string): { expirationTime: string } {
    const hook = this.requireHook(baseId, webhookId);
    if (!isHookEnabled(hook, this.now())) {
      throw airtableError(
        422,
        'CANNOT_REFRESH_DISABLED_WEBHOOK',
        `Webhook ${webhookId} is disabled and cannot be refreshed`,
      );
    }
    hook.expiresAt = this.now() + HOOK_TTL_MS;
    return { expirationTime: new Date(hook.expiresAt).toISOString() };
  }

  enableNotifications(baseId: string, webhookId: string, body: unknown): void {
    const hook = this.requireHook(baseId, webhookId);
    const enable = (body as { enable?: unknown } | null)?.enable;
    if (typeof enable !== 'boolean') throw invalidRequest('enable must be a boolean');
    hook.areNotificationsEnabled = enable;
    // Re-enabling starts over: a stale retry schedule from before the disable is dropped.
    this.notifier.reset(hook.id);
  }

  /**
   * docs/airtable-reference.md §4.5: payloads numbered from 1; `cursor` defaults to 1; the answer's `cursor`
   * is the number after the last payload returned (the request cursor when none); each call on an active hook
   * extends its expiry to now + 7 days.
   */
  listPayloads(
    baseId: string,
    webhookId: string,
    query: { cursor?: string; limit?: string },
  ): ListPayloadsResponse {
    const hook = this.requireHook(baseId, webhookId);
    const cursor = positiveInt(query.cursor, 'cursor') ?? 1;
    const limit = positiveInt(query.limit, 'limit') ?? MAX_PAYLOADS_PER_PAGE;
    if (limit > MAX_PAYLOADS_PER_PAGE) throw invalidRequest(`limit must be at most ${MAX_PAYLOADS_PER_PAGE}`);
    if (isHookEnabled(hook, this.now())) hook.expiresAt = this.now() + HOOK_TTL_MS;
    const from = hook.payloads.filter((p) => p.number >= cursor);
    const page = from.slice(0, limit);
    return {
      payloads: page.map((p) => structuredClone(p.payload)),
      cursor: page.length ? page[page.length - 1].number + 1 : cursor,
      mightHaveMore: from.length > page.length,
    };
  }

  /** Send pending (coalesced) pings now and wait for every ping in flight. */
  async flush(): Promise<void> {
    await this.notifier.flush(this.hooks.values());
  }

  /** Send retries due on the emulator clock now (the retry loop does this by itself). */
  runDueRetries(): void {
    this.notifier.runDue(this.hooks.values());
  }

  /** Starts the retry loop: checks due retries every `pollMs` of wall time. */
  start(pollMs = 1000): void {
    if (this.loop) return;
    if (this.hooks.size > 0) this.listen();
    const abort = new AbortController();
    const done = (async () => {
      while (!abort.signal.aborted) {
        this.runDueRetries();
        await pause(pollMs, abort.signal);
      }
    })();
    this.loop = { abort, done };
  }

  async stop(): Promise<void> {
    const loop = this.loop;
    this.loop = undefined;
    if (loop) {
      loop.abort.abort();
      await loop.done;
    }
    this.notifier.stop();
    await this.notifier.settle();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private onChange(change: StoreChange): void {
    const hooks = this.hooksOf(change.baseId).filter((h) => isHookEnabled(h, this.now()));
    const txn = (this.transactionNumbers.get(change.baseId) ?? 0) + 1;
    this.transactionNumbers.set(change.baseId, txn);
    if (hooks.length === 0) return;
    const view = storeBaseView(this.opts.store, change.baseId);
    for (const hook of hooks) {
      const options = hook.specification.options;
      const append = (payload: NonNullable<ReturnType<typeof buildPayload>>) =>
        hook.payloads.push({ number: hook.nextPayloadNumber++, createdAt: this.now(), payload });
      const payload = buildPayload(change, options, hook.scope, view, txn);
      if (payload) append(payload);
      const code = invalidation(change, options, hook.scope, view);
      if (code) append(errorPayload(change, view, txn, code));
      if (payload || code) this.notifier.request(hook);
      if (code) hook.errored = true; // after request(): the error payload still gets its ping
    }
  }
}

function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw invalidRequest(`${name} must be a positive integer`);
  return Number(v);
}
