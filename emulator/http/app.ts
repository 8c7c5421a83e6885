import { Hono } from 'hono';
import type { EmulatorClock } from '../clock.ts';
import { AirtableError, airtableErrorBody } from '../errors.ts';
import type { RecordLister } from '../list.ts';
import type { EmulatorStore } from '../store/store.ts';
import type { SchemaOps } from '../store/schema-ops.ts';
import type { CallLog } from './call-log.ts';
import type { FaultInjector } from './faults.ts';
import { bearerAuth, perBaseId, type RateLimiter, urlLimit } from './guards.ts';
import { metaRoutes } from './meta.ts';
import type { MonthlyQuota } from './monthly-quota.ts';
import { HTTPNotFound, recordRoutes } from './records.ts';

/** Where the emulator reports its own bugs (an unexpected error while answering); a pino logger fits. */
export interface EmulatorLogger {
  error(fields: Record<string, unknown>, message: string): void;
}

export interface AppDeps {
  store: EmulatorStore;
  schema: SchemaOps;
  clock: EmulatorClock;
  lister: RecordLister;
  limiter: RateLimiter;
  quota: MonthlyQuota;
  faults: FaultInjector;
  calls: CallLog;
  tokens: () => ReadonlySet<string>;
  maxBodyBytes: number;
  /** Extra sub-apps mounted behind auth and the rate limit (the webhooks routes), by path. */
  mounts?: Array<{ path: string; app: Hono }>;
  /** Where unexpected errors (emulator bugs) are reported. */
  log?: EmulatorLogger;
  /** The `/__emulator` control routes (no auth). */
  control?: Hono;
}

/**
 * The emulator's HTTP surface: `https://api.airtable.com/v0/...` paths plus `/__emulator/...`.
 * Order per request: the call log, injected faults, URL length, auth, per-base rate limit, the
 * monthly quota, route.
 */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono({ strict: false });

  app.onError((err, c) => {
    if (err instanceof AirtableError) return c.json(airtableErrorBody(err), err.status as 400);
    if (err instanceof HTTPNotFound) return c.json({ error: 'NOT_FOUND' }, 404);
    // An emulator bug: say so on the log (the request's path only, never its headers).
    deps.log?.error(
      { err, method: c.req.method, path: new URL(c.req.url).pathname },
      'emulator: unexpected error',
    );
    return c.json({ error: { type: 'SERVER_ERROR', message: 'Internal server error' } }, 500);
  });
  // docs/airtable-reference.md §2.4/§2.5: unknown routes answer the bare string form.
  app.notFound((c) => c.json({ error: 'NOT_FOUND' }, 404));

  if (deps.control) app.route('/__emulator', deps.control);

  app.use(
    '/v0/*',
    deps.calls.middleware(),
    deps.faults.middleware(),
    urlLimit(),
    bearerAuth(deps.tokens),
    deps.limiter.middleware(perBaseId),
    deps.quota.middleware(),
  );

  for (const m of deps.mounts ?? []) app.route(m.path, m.app);
  app.route('/', metaRoutes({ store: deps.store, schema: deps.schema, maxBodyBytes: deps.maxBodyBytes }));
  app.route('/', recordRoutes({ store: deps.store, lister: deps.lister, maxBodyBytes: deps.maxBodyBytes }));
  return app;
}
