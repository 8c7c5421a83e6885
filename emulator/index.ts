import type { Hono } from 'hono';
import { EmulatorClock } from './clock.ts';
import { createControl, type EmulatorControl } from './control.ts';
import { formulaEngine } from './formula-engine.ts';
import { createApp, type EmulatorLogger } from './http/app.ts';
import { CallLog } from './http/call-log.ts';
import { controlRoutes } from './http/control-routes.ts';
import { FaultInjector } from './http/faults.ts';
import { RateLimiter } from './http/guards.ts';
import { MonthlyQuota } from './http/monthly-quota.ts';
import { createRng } from './ids.ts';
import { RecordLister } from './list.ts';
import { buildDemoBase, DEMO_BASE_ID } from './seed/demo.ts';
import { buildEmptyBase } from './seed/empty.ts';
import { SchemaOps } from './store/schema-ops.ts';
import { EmulatorStore } from './store/store.ts';
import { EmulatorWebhooks, webhookRoutes } from './webhooks/index.ts';

export interface EmulatorOptions {
  /** Seeded data: the demo base (default) or one empty base. */
  seed?: 'demo' | 'empty';
  /** Records in the demo base's main table, Orders (default 40). */
  records?: number;
  /** Requests/s per base; default false (off). docs/airtable-reference.md §2.1: 5. */
  rateLimit?: number | false;
  /**
   * Calls a month per token (docs/airtable-reference.md §2.1: Free 1,000, Team 100,000); default
   * false (none). Once spent: 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED until the month resets.
   */
  monthlyQuota?: number | false;
  /** 429 penalty on the emulator clock; default 30 000 (docs/airtable-reference.md §2.1). */
  penaltyMs?: number;
  /**
   * List iterator TTL after last use; default 5 min (docs/airtable-reference.md §7: unconfirmed →
   * configurable).
   */
  offsetTtlMs?: number;
  /** Accepted bearer tokens; default [EMULATOR_TOKEN]. */
  tokens?: string[];
  /** Injectable clock (ms); default Date.now, moved by control.advanceClock/setClock. */
  now?: () => number;
  /** Used for webhook pings. */
  fetch?: typeof fetch;
  /**
   * Largest accepted request body; default 2 MiB (the real limit is undocumented,
   * docs/airtable-reference.md §2.2).
   */
  maxBodyBytes?: number;
  /** Calls kept by the call log (`control.calls()`); older ones are dropped. Default 10 000. */
  callLogLimit?: number;
  /** Where emulator bugs (unexpected errors while answering) are reported; default stderr. */
  log?: EmulatorLogger;
}

export interface Emulator {
  /** Serves `https://api.airtable.com/v0/...` paths and `/__emulator/...`: `app.fetch(request)`. */
  app: Hono;
  control: EmulatorControl;
  store: EmulatorStore;
  /**
   * The webhooks service (docs/airtable-reference.md §4). Its retry loop runs only after `webhooks.start()`.
   */
  webhooks: EmulatorWebhooks;
}

/**
 * A personal-access-token-shaped token (docs/airtable-reference.md §2.3): 'pat' + 14 chars + '.' + 64 hex.
 */
export const EMULATOR_TOKEN = 'patEmulator000001.' + '0123456789abcdef'.repeat(4);
export { DEMO_BASE_ID };
export { DEMO_TABLES } from './seed/demo.ts';
export type { StoreChange, TableChange, ChangeListener, ChangeSource } from './store/changes.ts';
export type { EmulatorControl } from './control.ts';
export type { FaultSpec, FaultMatch } from './http/faults.ts';
export type { EmulatorCall, CallFilter } from './http/call-log.ts';
export type { MonthlyQuotaUsage } from './http/monthly-quota.ts';
export type { EmulatorLogger } from './http/app.ts';
export type { EmulatorStore } from './store/store.ts';

const stderrLogger: EmulatorLogger = {
  error: (fields, message) => console.error(message, fields),
};

export function createEmulator(opts: EmulatorOptions = {}): Emulator {
  const clock = new EmulatorClock(opts.now);
  const seeded = opts.seed === 'empty' ? buildEmptyBase() : buildDemoBase({ records: opts.records });
  // Ids created at run time come from a PRNG too, so a test run is reproducible.
  const store = new EmulatorStore(clock, createRng(0xc0ffee), formulaEngine);
  store.addBase(seeded.base);
  const schema = new SchemaOps(store);
  const lister = new RecordLister(store, clock, createRng(0x17e4), opts.offsetTtlMs ?? 5 * 60_000);
  const limiter = new RateLimiter(clock, opts.rateLimit ?? false, opts.penaltyMs ?? 30_000);
  const quota = new MonthlyQuota(clock);
  quota.set(opts.monthlyQuota ?? false);
  const faults = new FaultInjector();
  const calls = new CallLog(clock, opts.callLogLimit ?? 10_000);
  const tokens = new Set(opts.tokens ?? [EMULATOR_TOKEN]);
  const control = createControl({ store, schema, clock, faults, lister, limiter, quota, calls });
  const maxBodyBytes = opts.maxBodyBytes ?? 2 * 1024 * 1024;
  const webhooks = new EmulatorWebhooks({
    store,
    clock,
    fetch: opts.fetch ?? ((...args) => globalThis.fetch(...args)),
    rng: createRng(0x4e6b),
  });
  const app = createApp({
    store,
    clock,
    lister,
    limiter,
    quota,
    faults,
    calls,
    tokens: () => tokens,
    maxBodyBytes,
    schema,
    control: controlRoutes(control, maxBodyBytes),
    log: opts.log ?? stderrLogger,
    mounts: [{ path: '/v0/bases/:baseId/webhooks', app: webhookRoutes({ webhooks }) }],
  });
  return { app, control, store, webhooks };
}
