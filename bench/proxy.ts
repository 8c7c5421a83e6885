/**
 * The write-through proxy's cost. Prints one JSON line:
 * - added latency (p50/p99) of a 1-record and a 10-record PATCH through the proxy, including the
 *   mirror apply and the slot of the shared request budget in Postgres (as `airmirror start` opens
 *   it: its own pool, slots from a stock leased ahead, a claim round trip when the stock is out), over the same PATCH sent straight to the
 *   emulator (target p50 ≤ 3 ms); for scale, the same with the in-process budget only;
 * - writes/s through one proxy process with a fast upstream (a canned-answer server), each write
 *   applied to the mirror (target ≥ 1,000/s).
 * Self-contained: its own embedded Postgres in a temp dir, the emulator in-process over HTTP,
 * loopback only, bounded in time.
 */
import { serveHttp } from '../src/serve-http.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createProxy } from '../proxy/app.ts';
import { createPgWriter } from '../proxy/pg-writer.ts';
import type { MirrorWriter } from '../proxy/writer.ts';
import { createAirtableClient } from '../src/airtable/client.ts';
import { openProcessBudget } from '../src/airtable/process-budget.ts';
import { createRateBudget, type RateBudget } from '../src/airtable/rate-budget.ts';
import type { AirtableRecord } from '../src/airtable/types.ts';
import { createDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { sql } from '../src/db/sql.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../emulator/index.ts';
import { startEmulatorServer } from '../emulator/server.ts';
import { applyRecords } from '../src/mirror/apply.ts';
import { createMirrorTables } from '../src/mirror/ddl.ts';
import { buildBaseMapping } from '../src/mirror/mapping.ts';
import { saveMapping } from '../src/mirror/store.ts';

const LATENCY_N = Number(process.env.BENCH_PROXY_N ?? 300);
const THROUGHPUT_MS = Number(process.env.BENCH_PROXY_MS ?? 4_000);
const CONCURRENCY = Number(process.env.BENCH_PROXY_CONCURRENCY ?? 32);

type Server = { url: string; close: () => Promise<void> };
async function serveFetch(fetchHandler: (req: Request) => Response | Promise<Response>): Promise<Server> {
  const server = await serveHttp(fetchHandler);
  return { url: `http://127.0.0.1:${server.port}`, close: server.close };
}

function nextMessage<T>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

/** Plain JS (eval'd worker): the fast upstream server, then the load once told where to send it. */
const LOAD_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { records, notesId, concurrency, durationMs } = workerData;
let seq = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const i = seq++;
    // A new record each time (a create's answer shape is the same), so every write is a row change.
    const r = records[i % records.length];
    const id = 'recBench' + String(i).padStart(9, '0');
    const body = JSON.stringify({ records: [{ ...r, id, fields: { ...r.fields, [notesId]: 'fast ' + i } }] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage('http://127.0.0.1:' + server.address().port));
parentPort.on('message', async ({ url, headers, body }) => {
  let done = 0, failed = 0;
  const until = performance.now() + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const res = await fetch(url, { method: 'PATCH', headers, body });
      await res.arrayBuffer();
      if (res.status === 200) done++; else failed++;
    }
  }));
  parentPort.postMessage({ done, failed });
});
`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const round = (n: number) => Math.round(n * 1000) / 1000;

const dir = mkdtempSync(join(tmpdir(), 'airmirror-bench-proxy-'));
const pg = await startEmbeddedPostgres({ dataDir: dir, persistent: false, durable: false });
const db = createDatabase(pg.url, { max: 10 });
const closers: Array<() => Promise<unknown>> = [];
try {
  await migrate(db);
  const emulator = createEmulator({ seed: 'demo', records: 20 });
  const emu = await startEmulatorServer(emulator);
  closers.push(() => emu.close());

  // Mirror the demo base as the syncer would.
  const client = createAirtableClient({
    apiUrl: emu.url,
    token: EMULATOR_TOKEN,
    fetch: (i, init) => fetch(i, init),
    budget: createRateBudget({ perSecond: 100_000 }),
  });
  const sourceId = 'bench';
  await db.query(
    sql('INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, $2, $3)', [
      sourceId,
      DEMO_BASE_ID,
      'public',
    ]),
  );
  const mapping = buildBaseMapping('public', await client.getBaseSchema(DEMO_BASE_ID));
  await db.tx(async (tx) => {
    await createMirrorTables(tx, mapping);
    await saveMapping(tx, sourceId, mapping);
  });
  const customers = mapping.tables.find((t) => t.tableName === 'Customers')!;
  const records: AirtableRecord[] = [];
  for await (const page of client.listAllRecords(DEMO_BASE_ID, customers.tableId))
    records.push(...page.records);
  await applyRecords(db, customers, records, { origin: 'sweep', sourceId });
  const ids = records.map((r) => r.id);

  let applyFailures = 0;
  const applyMs: number[] = [];
  const pgWriter = createPgWriter({ db });
  const timedWriter: MirrorWriter = {
    async apply(w) {
      const t0 = performance.now();
      try {
        return await pgWriter.apply(w);
      } finally {
        applyMs.push(performance.now() - t0);
      }
    },
  };
  // The shared budget as `airmirror start` opens it, with a limit the bench never reaches (the
  // emulator has no rate limit here): what is measured is the claim's round trip, not waiting.
  const claimMs: number[] = [];
  /** Requests that went to Postgres for their slot (the rest were served from the stock). */
  let claimedItems = 0;
  const quiet = { warn: () => undefined, info: () => undefined, error: () => undefined };
  const shared = openProcessBudget({
    databaseUrl: pg.url,
    perSecond: 100_000,
    log: quiet,
    onClaim: ({ ms, items, degraded }) => {
      claimedItems += items;
      if (degraded) claimMs.push(NaN);
      else claimMs.push(ms);
    },
  });
  closers.push(() => shared.close());
  const proxyFor = (upstreamUrl: string, withWriter = true, budget: RateBudget = shared.budget) =>
    createProxy({
      catchup: withWriter ? { enqueue: (items) => void (applyFailures += items.length) } : undefined,
      upstreamUrl,
      fetch: (i, init) => fetch(i, init),
      timeoutMs: 10_000,
      maxBodyBytes: 2_000_000,
      writer: withWriter ? timedWriter : undefined,
      budget,
    });
  const viaEmu = await serveFetch(proxyFor(emu.url).app.fetch);
  closers.push(() => viaEmu.close());

  const headers = { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' };
  let seq = 0;
  const patchBody = (n: number) =>
    JSON.stringify({
      records: Array.from({ length: n }, (_, k) => ({
        id: ids[(seq + k) % ids.length],
        fields: { Notes: `bench ${seq++}` },
      })),
    });
  async function timePatch(base: string, n: number): Promise<number> {
    const body = patchBody(n);
    const t0 = performance.now();
    const res = await fetch(`${base}/v0/${DEMO_BASE_ID}/Customers`, { method: 'PATCH', headers, body });
    await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`PATCH answered ${res.status}`);
    return ms;
  }

  const forwardOnly = await serveFetch(proxyFor(emu.url, false).app.fetch);
  closers.push(() => forwardOnly.close());
  const inProcess = await serveFetch(
    proxyFor(emu.url, true, createRateBudget({ perSecond: 100_000 })).app.fetch,
  );
  closers.push(() => inProcess.close());

  async function latency(n: number) {
    applyMs.length = 0;
    claimMs.length = 0;
    const local: number[] = [];
    const forwarded: number[] = [];
    const direct: number[] = [];
    const proxied: number[] = [];
    for (let i = 0; i < 20; i++) {
      await timePatch(emu.url, n);
      await timePatch(`${viaEmu.url}/api.airtable.com`, n);
    }
    claimMs.length = 0;
    claimedItems = 0;
    // Alternate, so both see the same machine conditions.
    for (let i = 0; i < LATENCY_N; i++) {
      direct.push(await timePatch(emu.url, n));
      proxied.push(await timePatch(`${viaEmu.url}/api.airtable.com`, n));
      forwarded.push(await timePatch(`${forwardOnly.url}/api.airtable.com`, n));
      local.push(await timePatch(`${inProcess.url}/api.airtable.com`, n));
    }
    local.sort((a, b) => a - b);
    // Claims of the forward-only proxy are in here too: the same claim, twice the samples.
    const claims = claimMs.filter((m) => !Number.isNaN(m)).sort((a, b) => a - b);
    forwarded.sort((a, b) => a - b);
    const apply = applyMs.slice().sort((a, b) => a - b);
    direct.sort((a, b) => a - b);
    proxied.sort((a, b) => a - b);
    return {
      records: n,
      samples: LATENCY_N,
      direct_p50_ms: round(percentile(direct, 50)),
      direct_p99_ms: round(percentile(direct, 99)),
      proxy_p50_ms: round(percentile(proxied, 50)),
      proxy_p99_ms: round(percentile(proxied, 99)),
      added_p50_ms: round(percentile(proxied, 50) - percentile(direct, 50)),
      added_p99_ms: round(percentile(proxied, 99) - percentile(direct, 99)),
      // Breakdown: forwarding alone (no mirror), and the mirror apply alone.
      forward_only_added_p50_ms: round(percentile(forwarded, 50) - percentile(direct, 50)),
      mirror_apply_p50_ms: round(percentile(apply, 50)),
      mirror_apply_p99_ms: round(percentile(apply, 99)),
      budget: 'shared (Postgres)',
      budget_claim_p50_ms: round(percentile(claims, 50)),
      budget_claim_p99_ms: round(percentile(claims, 99)),
      budget_fallback_claims: claimMs.length - claims.length,
      // Of the requests through the shared budget (with and without the mirror), the share that
      // waited on a claim round trip rather than taking a slot from the process's stock.
      budget_round_trip_share: round(claimedItems / (2 * LATENCY_N)),
      in_process_budget_added_p50_ms: round(percentile(local, 50) - percentile(direct, 50)),
      in_process_budget_added_p99_ms: round(percentile(local, 99) - percentile(direct, 99)),
    };
  }
  const patch1 = await latency(1);
  const patch10 = await latency(10);

  // Fast upstream and load generator run in a worker thread, so this thread is the proxy alone
  // ("writes/s through one process"). The upstream answers every PATCH at once with a whole
  // record keyed by field id (docs/airtable-reference.md §1.4 shape, returnFieldsByFieldId), a new value each time.
  const notesId = customers.columns.find((c) => c.fieldName === 'Notes')!.fieldId;
  const load = new Worker(LOAD_WORKER, {
    eval: true,
    workerData: { records, notesId, concurrency: CONCURRENCY, durationMs: THROUGHPUT_MS },
  });
  closers.push(() => load.terminate());
  const fastUrl = await nextMessage<string>(load);
  const viaFast = await serveFetch(proxyFor(fastUrl).app.fetch);
  closers.push(() => viaFast.close());
  const fastForwardOnly = await serveFetch(proxyFor(fastUrl, false).app.fetch);
  closers.push(() => fastForwardOnly.close());
  async function throughput(proxyUrl: string) {
    const t0 = performance.now();
    load.postMessage({
      url: `${proxyUrl}/api.airtable.com/v0/${DEMO_BASE_ID}/Customers?returnFieldsByFieldId=true`,
      headers,
      body: JSON.stringify({ records: [{ id: ids[0], fields: { Notes: 'x' } }] }),
    });
    const r = await nextMessage<{ done: number; failed: number }>(load);
    return { ...r, elapsed: (performance.now() - t0) / 1000 };
  }
  // Forwarding alone first (no mirror), for the breakdown; then the real thing.
  const fwd = await throughput(fastForwardOnly.url);
  const { done, failed, elapsed } = await throughput(viaFast.url);
  const applied = await db.query<{ n: number }>(
    sql(
      `SELECT count(*)::int AS n FROM airmirror.outbox WHERE origin = 'proxy' AND after->>'notes' LIKE 'fast %'`,
    ),
  );

  console.log(
    JSON.stringify({
      patch_1_record: patch1,
      patch_10_records: patch10,
      throughput: {
        concurrency: CONCURRENCY,
        seconds: round(elapsed),
        writes: done,
        failed,
        writes_per_second: Math.round(done / elapsed),
        forward_only_writes_per_second: Math.round(fwd.done / fwd.elapsed),
        mirror_rows_written: applied.rows[0].n,
        apply_failures: applyFailures,
      },
      targets: {
        added_p50_ms_max: 3,
        writes_per_second_min: 1000,
        met:
          patch1.added_p50_ms <= 3 &&
          patch10.added_p50_ms <= 3 &&
          done / elapsed >= 1000 &&
          failed === 0 &&
          applyFailures === 0,
      },
    }),
  );
} finally {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await db.close();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
