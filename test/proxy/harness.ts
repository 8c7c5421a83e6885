import Airtable from 'airtable';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProxyBudget } from '../../proxy/app.ts';
import type { AuthCache } from '../../proxy/auth-cache.ts';
import { createNodeProxy, type NodeProxy } from '../../proxy/node.ts';
import { createAirtableClient, type AirtableClient } from '../../src/airtable/client.ts';
import { createRateBudget } from '../../src/airtable/rate-budget.ts';
import type { Database } from '../../src/db/database.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN, type Emulator } from '../../emulator/index.ts';
import { startEmulatorServer } from '../../emulator/server.ts';
import { applyRecords } from '../../src/mirror/apply.ts';
import type { BaseMapping, TableMapping } from '../../src/mirror/types.ts';
import { mirrorBase } from './fixtures.ts';
import { serveHttp } from './support.ts';

export interface Stack {
  emulator: Emulator;
  emulatorUrl: string;
  proxy: NodeProxy;
  proxyUrl: string;
  /** airtable.js pointed at the proxy, as an app would be. */
  base: Airtable.Base;
  /** airmirror's own Airtable client straight at the emulator (for sweeps and catch-up). */
  client: AirtableClient;
  sourceId: string;
  mapping: BaseMapping;
  table(name: string): TableMapping;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * The whole write-through path over real HTTP: airtable.js → proxy (Node server) → emulator
 * (Node server), with the demo base mirrored into `db` the way the syncer would (schema from the
 * meta API, mirror tables, one full listing applied).
 */
export async function startStack(
  db: Database,
  opts: {
    applyTimeoutMs?: number;
    catchupRetryMs?: number;
    upstreamTimeoutMs?: number;
    emulator?: Emulator;
    /**
     * The proxy's budget, for tests that drive it on a virtual clock; by default the proxy shares
     * one real-clock budget with `client`, as in the process (invariant 6).
     */
    proxyBudget?: ProxyBudget;
    /** The proxy's auth cache (tests on a virtual clock pass their own). */
    authCache?: AuthCache;
  } = {},
): Promise<Stack> {
  const emulator = opts.emulator ?? createEmulator({ seed: 'demo', records: 20 });
  const emu = await startEmulatorServer(emulator);
  const budget = createRateBudget({ perSecond: 10_000 });
  const client = createAirtableClient({
    apiUrl: emu.url,
    token: EMULATOR_TOKEN,
    fetch: (i, init) => fetch(i, init),
    budget,
    maxAttempts: 1,
  });
  const schema = await client.getBaseSchema(DEMO_BASE_ID);
  const { sourceId, mapping } = await mirrorBase(db, { baseId: DEMO_BASE_ID, schema });
  for (const t of mapping.tables) {
    for await (const page of client.listAllRecords(DEMO_BASE_ID, t.tableId)) {
      await applyRecords(db, t, page.records, { origin: 'sweep', sourceId });
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'airmirror-proxy-'));
  const proxy = createNodeProxy({
    config: {
      airtableApiUrl: emu.url,
      upstreamTimeoutMs: opts.upstreamTimeoutMs ?? 5_000,
      maxBodyBytes: 1_000_000,
      dataDir,
    },
    db,
    budget: opts.proxyBudget ?? budget,
    authCache: opts.authCache,
    applyTimeoutMs: opts.applyTimeoutMs,
    catchupRetryMs: opts.catchupRetryMs ?? 50,
  });
  proxy.start();
  const server = await serveHttp(proxy.app.fetch);
  const base = new Airtable({
    apiKey: EMULATOR_TOKEN,
    endpointUrl: `${server.url}/api.airtable.com`,
    noRetryIfRateLimited: true,
  }).base(DEMO_BASE_ID);
  return {
    emulator,
    emulatorUrl: emu.url,
    proxy,
    proxyUrl: server.url,
    base,
    client,
    sourceId,
    mapping,
    table: (name) => {
      const t = mapping.tables.find((x) => x.tableName === name);
      if (!t) throw new Error(`no table ${name}`);
      return t;
    },
    dataDir,
    async close() {
      await server.close();
      await proxy.stop();
      await emu.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
