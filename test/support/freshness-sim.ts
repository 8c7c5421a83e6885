import type { Hono } from 'hono';
import pino from 'pino';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { ensureSourcesFromConfig } from '../../src/bookkeeping/sources.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import type { Database } from '../../src/db/database.ts';
import { quoteIdent, quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { loadMapping } from '../../src/mirror/index.ts';
import { drainWindowMs } from '../../src/quota/policy.ts';
import { webhookReceiver } from '../../src/webhooks/routes.ts';
import { createWebhookService } from '../../src/webhooks/service.ts';
import { webhookStrategy } from '../../src/webhooks/strategy.ts';
import { createSyncer } from '../../sync/syncer.ts';
import { createFakeClock, T0 } from './fake-clock.ts';

/**
 * Issue 17's scenario on a virtual clock: the demo base (Orders with `records` rows) in webhook
 * mode, one change in Airtable every `changeEverySeconds`, pings coalesced under a freshness
 * target of `maxLagSeconds`. Each second of virtual time: pings delivered, due drains run to
 * their end, the mirror checked for the changes that arrived. Every call the emulator answered
 * is counted (its call log), and scaled to a 30-day month; the safety-net sweep (one full listing
 * a day) is measured once and added.
 */
export interface FreshnessResult {
  maxLagSeconds: number;
  changes: number;
  simulatedSeconds: number;
  /** Calls the webhook path made during the stream (payload reads and any record fetches). */
  streamCalls: number;
  recordFetches: number;
  /** Calls of one full sweep of the base (the daily safety net). */
  sweepCalls: number;
  callsPerMonth: number;
  lagP50Seconds: number;
  lagP99Seconds: number;
  lagMaxSeconds: number;
  /** Changes that never reached the mirror before the end. */
  lost: number;
}

const MONTH_S = 30 * 24 * 3600;

export async function runFreshnessScenario(
  db: Database,
  opts: { maxLagSeconds: number; changeEverySeconds: number; seconds: number; records: number },
): Promise<FreshnessResult> {
  const clock = createFakeClock(T0);
  const log = pino({ level: 'silent' });
  const hook: { receiver?: Hono } = {};
  const emulator = createEmulator({
    records: opts.records,
    now: clock.now,
    fetch: async (input, init) => hook.receiver!.fetch(new Request(input, init)),
  });
  const fetchFn: typeof fetch = (input, init) =>
    Promise.resolve(emulator.app.fetch(new Request(input, init)));
  // Rate limits are not what this measures: a budget that never waits on the virtual clock.
  const budget = createRateBudget({ perSecond: 1000, now: clock.now, sleep: clock.sleep });
  await ensureSourcesFromConfig(db, {
    bases: [{ baseId: DEMO_BASE_ID, schema: 'fresh' }],
    airtableToken: EMULATOR_TOKEN,
  });
  const syncer = createSyncer({
    db,
    fetch: fetchFn,
    budget,
    apiUrl: 'https://api.airtable.com',
    tokenFor: () => EMULATOR_TOKEN,
    hashCacheSize: 0,
    log,
    clientOptions: { now: clock.now, sleep: clock.sleep, random: () => 0.5 },
    strategies: [webhookStrategy],
  });
  emulator.control.clearCalls();
  const built = await clock.run(syncer.syncAll());
  if (built[0]?.error) throw new Error(`first sync failed: ${String(built[0].error)}`);
  const sweepCalls = emulator.control.calls({ baseId: DEMO_BASE_ID }).length;
  await db.query(
    sql(`UPDATE airmirror.tables SET sync_type = 'webhook' WHERE source_id = $1`, [DEMO_BASE_ID]),
  );
  const client = createAirtableClient({
    apiUrl: 'https://api.airtable.com',
    token: EMULATOR_TOKEN,
    fetch: fetchFn,
    budget,
    now: clock.now,
    sleep: clock.sleep,
  });
  const service = createWebhookService({
    db,
    secrets: createSecretBox('freshness-sim-key-0123456789'),
    clientFor: () => client,
    publicUrl: 'https://airmirror.example',
    syncer,
    log,
    now: () => new Date(clock.now()),
    sleep: clock.sleep,
    drainWindowMs: async () => drainWindowMs(opts.maxLagSeconds, 1),
  });
  hook.receiver = webhookReceiver(service);
  await clock.run(service.register(DEMO_BASE_ID));

  const orders = (await loadMapping(db, DEMO_BASE_ID))!.tables.find((t) => t.tableName === 'Orders')!;
  const qty =
    orders.columns.find((c) => c.fieldName === 'Quantity') ??
    orders.columns.find((c) => c.pgType === 'numeric')!;
  const ids = (
    await db.query<{ id: string }>(
      sql(`SELECT id FROM ${quoteQualified(orders.schema, orders.table)} ORDER BY id LIMIT 500`),
    )
  ).rows.map((r) => r.id);

  /** Waits (real time) until no drain reads or applies: only gathering waits are left. */
  const quiet = async () => {
    for (let still = 0; still < 3;) {
      await new Promise<void>((r) => setImmediate(r));
      still = service.busy() ? 0 : still + 1;
    }
  };

  emulator.control.clearCalls();
  const pending = new Map<string, { value: number; at: number }>();
  const lags: number[] = [];
  let changes = 0;
  const start = clock.now();
  // The stream, then a quiet tail as long as the target: the last changes still arrive.
  const tail = opts.maxLagSeconds + 5;
  for (let s = 0; s < opts.seconds + tail; s++) {
    if (s < opts.seconds && s % opts.changeEverySeconds === 0) {
      const id = ids[changes % ids.length];
      const value = 100_000 + changes;
      emulator.control.updateRecords(DEMO_BASE_ID, 'Orders', [{ id, fields: { [qty.fieldId]: value } }]);
      pending.set(id, { value, at: clock.now() });
      changes++;
      await emulator.webhooks.flush();
    }
    await clock.advance(1000);
    await quiet();
    if (pending.size > 0) {
      const r = await db.query<{ id: string; v: string | null }>(
        sql(
          `SELECT id, ${quoteIdent(qty.column)}::text AS v FROM ${quoteQualified(orders.schema, orders.table)} WHERE id = ANY($1::text[])`,
          [[...pending.keys()]],
        ),
      );
      for (const row of r.rows) {
        const p = pending.get(row.id)!;
        if (Number(row.v) === p.value) {
          lags.push((clock.now() - p.at) / 1000);
          pending.delete(row.id);
        }
      }
    }
  }
  // Scaled over the stream alone (the tail's reads belong to it): a slight overestimate.
  const simulated = Math.min(opts.seconds, (clock.now() - start) / 1000);
  const calls = emulator.control.calls({ baseId: DEMO_BASE_ID });
  const streamCalls = calls.length;
  const recordFetches = calls.filter((c) => !c.path.includes('/webhooks/')).length;
  await service.stop();
  // The syncer holds a session of its own (the base's ownership lock): closed here, or the
  // database could not be dropped after the run.
  await syncer.stop();
  lags.sort((a, b) => a - b);
  const pct = (p: number) =>
    lags.length ? lags[Math.min(lags.length - 1, Math.ceil(p * lags.length) - 1)] : NaN;
  return {
    maxLagSeconds: opts.maxLagSeconds,
    changes,
    simulatedSeconds: simulated,
    streamCalls,
    recordFetches,
    sweepCalls,
    callsPerMonth: Math.round((streamCalls / simulated) * MONTH_S + sweepCalls * 30),
    lagP50Seconds: pct(0.5),
    lagP99Seconds: pct(0.99),
    lagMaxSeconds: lags.length ? lags[lags.length - 1] : NaN,
    lost: pending.size,
  };
}
