import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { createApi } from '../../src/api/index.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import type { Database } from '../../src/db/database.ts';
import { createMetrics } from '../../src/metrics.ts';
import { serveHttp, type HttpServer } from '../../src/serve-http.ts';
import { apiExtraGroups, createServerApp, type ServerParts } from '../../src/server.ts';
import { createWebhookService } from '../../src/webhooks/service.ts';
import { webhookReceiver } from '../../src/webhooks/routes.ts';
import { createProxy } from '../../proxy/app.ts';
import { createEmulator } from '../../emulator/index.ts';
import { emulatorFetch, memoryLogger, SECRET_KEY } from './harness.ts';

export interface ServedApp {
  url: string;
  port: number;
  server: HttpServer;
  logs: ReturnType<typeof memoryLogger>;
  emulator: ReturnType<typeof createEmulator>;
  close(): Promise<void>;
}

/**
 * The one HTTP app of `airmirror start` as src/node.ts composes it — guard, /healthz, /metrics,
 * the management API with its extra groups, the webhook receiver and the proxy (to the emulator,
 * in process) — served over real HTTP on loopback. No syncer: these tests are about HTTP.
 */
export async function serveApp(
  db: Database,
  opts: Partial<Pick<ServerParts, 'adminToken' | 'metricsPublic' | 'guard'>> & { maxBodyBytes?: number } = {},
): Promise<ServedApp> {
  const emulator = createEmulator();
  const fetchFn = emulatorFetch(emulator);
  const logs = memoryLogger();
  const secrets = createSecretBox(SECRET_KEY);
  const webhooks = createWebhookService({
    db,
    secrets,
    log: logs.log,
    clientFor: () =>
      createAirtableClient({
        apiUrl: 'https://api.airtable.com',
        token: 'unused',
        fetch: fetchFn,
        budget: createRateBudget({ perSecond: 1000 }),
      }),
  });
  const app = createServerApp({
    db,
    metrics: createMetrics(),
    adminToken: opts.adminToken,
    metricsPublic: opts.metricsPublic,
    guard: opts.guard ?? { host: '127.0.0.1' },
    api: createApi({ db, secrets, adminToken: opts.adminToken, log: logs.log }),
    apiExtras: apiExtraGroups({ db, secrets, fetch: fetchFn, webhooks, log: logs.log }),
    hooks: webhookReceiver(webhooks, logs.log),
    proxy: createProxy({
      upstreamUrl: 'https://api.airtable.com',
      fetch: fetchFn,
      timeoutMs: 5_000,
      maxBodyBytes: opts.maxBodyBytes ?? 5 * 1024 * 1024,
      log: logs.log,
    }).app,
  });
  const server = await serveHttp(app.fetch, { host: '127.0.0.1', port: 0 });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    server,
    logs,
    emulator,
    close: () => server.close(),
  };
}
