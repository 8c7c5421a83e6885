import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import type { DrainResult } from './apply.ts';
import { WebhookContext } from './context.ts';
import { PayloadDrains } from './payloads.ts';
import { Registrations, type WebhookView } from './registration.ts';
import { listWebhookRows } from './store.ts';
import type { WebhookServiceDeps } from './types.ts';

export { WEBHOOK_SPECIFICATION } from './hook.ts';
export type { WebhookView } from './registration.ts';
export type { WebhookServiceDeps } from './types.ts';

export interface WebhookService {
  /** POST /api/sources/{id}/webhook: registers (or returns the existing) hook. */
  register(sourceId: string): Promise<{ created: boolean; webhook: WebhookView }>;
  info(sourceId: string): Promise<WebhookView>;
  /** POST …/webhook/inputs: a new hook (new MAC secret) replaces the old one, nothing missed. */
  rotate(sourceId: string): Promise<WebhookView>;
  /** POST …/webhook/inputs {inputs: {signing_secret}}: the MAC secret of a hook registered elsewhere. */
  setMacSecret(sourceId: string, macSecretBase64: string): Promise<WebhookView>;
  /** DELETE: refused (409) while a table of the source still uses the webhook sync type. */
  unregister(sourceId: string): Promise<void>;
  /** The decrypted MAC secret, for the receiver only. */
  macSecret(sourceId: string): Promise<string | undefined>;
  /**
   * A verified ping arrived: drain payloads soon (pings during a drain coalesce into one more);
   * with an owner, a ping for a base another process owns is passed on to it.
   */
  ping(sourceId: string): void;
  /** This process took the source's base over: drain what came meanwhile. */
  resume(sourceId: string): Promise<void>;
  /** Drains now (what a ping leads to). */
  drain(sourceId: string): Promise<DrainResult | undefined>;
  /** One maintenance pass: refresh hooks near expiry; re-create expired/disabled/broken ones. */
  maintain(): Promise<void>;
  /** Resolves when no drain is running or queued (tests, shutdown). */
  idle(): Promise<void>;
  /** True while a drain reads or applies payloads (not while it gathers pings: src/quota). */
  busy(): boolean;
  /** Drains what came while the process was down, then maintains every hook each `checkIntervalMs`. */
  start(): void;
  /** Ends the maintenance loop and waits for it and for running drains. */
  stop(): Promise<void>;
}

/**
 * Airtable webhooks in: the registration side (registration.ts, the hook at Airtable in hook.ts)
 * and the payload side (payloads.ts) over one per-source lock (context.ts), plus the background
 * loop that maintains the hooks.
 */
export function createWebhookService(deps: WebhookServiceDeps): WebhookService {
  const ctx = new WebhookContext(deps);
  const payloads = new PayloadDrains(ctx);
  const registrations = new Registrations(ctx, payloads);
  let resumed = false;
  const intervalMs = deps.checkIntervalMs ?? 60 * 60 * 1000;
  const loop = new BackgroundLoop({
    name: 'webhook maintenance',
    intervalMs,
    // A failed pass (Postgres away) waits the interval too: a hook has days before it expires,
    // and each hook's own failure is caught and logged by maintain().
    retryMs: intervalMs,
    maxRetryMs: intervalMs,
    log: deps.log,
    sleep: deps.sleep,
    pass: async () => {
      if (!resumed) {
        resumed = true;
        // Changes made while this process was down: read them now rather than at the next ping.
        // (With an owner, each base's is read when the base is taken: `resume`.)
        if (!deps.owner) {
          for (const row of await listWebhookRows(deps.db).catch(() => [])) payloads.ping(row.source_id);
        }
      }
      await registrations.maintain();
    },
  });

  return {
    register: (sourceId) => registrations.register(sourceId),
    info: (sourceId) => registrations.info(sourceId),
    rotate: (sourceId) => registrations.rotate(sourceId),
    unregister: (sourceId) => registrations.unregister(sourceId),
    setMacSecret: (sourceId, secret) => registrations.setMacSecret(sourceId, secret),
    macSecret: (sourceId) => registrations.macSecret(sourceId),
    maintain: () => registrations.maintain(),
    ping: (sourceId) => payloads.ping(sourceId),
    resume: (sourceId) => payloads.resume(sourceId),
    drain: (sourceId) => payloads.drain(sourceId),
    idle: () => payloads.idle(),
    busy: () => payloads.busy(),
    start() {
      if (loop.started) return;
      resumed = false;
      payloads.stopping = false;
      payloads.resetWaits();
      loop.start();
    },
    async stop() {
      payloads.stopping = true;
      payloads.abortWaits();
      await loop.stop();
      await payloads.idle();
    },
  };
}
