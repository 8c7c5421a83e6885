import pino from 'pino';
import { createFakeClock, T0, type FakeClock } from '../support/fake-clock.ts';
import {
  createAirtableClient,
  createRateBudget,
  type AirtableClient,
  type RateBudget,
} from '../../src/airtable/index.ts';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import {
  createEmulator,
  DEMO_BASE_ID,
  EMULATOR_TOKEN,
  type Emulator,
  type EmulatorOptions,
} from '../../emulator/index.ts';
import { loadMapping } from '../../src/mirror/index.ts';
import type { TableMapping } from '../../src/mirror/types.ts';
import { ensureSourcesFromConfig } from '../../src/bookkeeping/sources.ts';
import type { SyncClient } from '../../sync/strategy.ts';
import { createSyncer, type Syncer, type SyncerDeps } from '../../sync/syncer.ts';
import { verifySource, type VerifyReport } from '../../sync/verify.ts';

export const API_URL = 'https://api.airtable.com';
export const SCHEMA = 'demo';
export const SOURCE_ID = DEMO_BASE_ID;

/** In-process transport to the emulator: the injected fetch calls its Hono app directly. */
export function emulatorFetch(emulator: Emulator): typeof fetch {
  return (input, init) => Promise.resolve(emulator.app.fetch(new Request(input, init)));
}

export const silentLog = pino({ level: 'silent' });

export interface Harness {
  db: Database;
  emulator: Emulator;
  syncer: Syncer;
  budget: RateBudget;
  clock: FakeClock;
  /**
   * A client like the syncer's (same fetch/budget/clock), for verify, direct reads and the webhook
   * service (test/webhooks/fixture.ts).
   */
  client: AirtableClient;
  verify(): Promise<VerifyReport>;
  mapping(): Promise<{ tables: TableMapping[] }>;
  table(name: string): Promise<TableMapping>;
  tableId(name: string): string;
}

/** A syncer wired to an in-process emulator with a virtual clock, over a real test database. */
export async function harness(
  db: Database,
  opts: {
    emulator?: EmulatorOptions;
    syncer?: Partial<SyncerDeps>;
    /** Wraps the client the syncer uses (to act between pages). */
    wrapClient?: (c: SyncClient) => SyncClient;
    budgetPerSecond?: number;
  } = {},
): Promise<Harness> {
  // One virtual clock for the emulator (rate limit, penalty, offset TTL), the client (backoff,
  // Retry-After) and the budget (window, 30 s penalty): sleeping advances it instantly.
  const clock = createFakeClock(T0, { autoAdvance: true });
  const emulator = createEmulator({ now: clock.now, ...opts.emulator });
  const fetchFn = emulatorFetch(emulator);
  const budget = createRateBudget({
    perSecond: opts.budgetPerSecond ?? 5,
    now: clock.now,
    sleep: clock.sleep,
  });
  const clientOptions = { now: clock.now, sleep: clock.sleep, random: () => 0.5 };
  await ensureSourcesFromConfig(db, {
    bases: [{ baseId: DEMO_BASE_ID, schema: SCHEMA }],
    airtableToken: EMULATOR_TOKEN,
  });
  const client = createAirtableClient({
    apiUrl: API_URL,
    token: EMULATOR_TOKEN,
    fetch: fetchFn,
    budget,
    ...clientOptions,
  });
  const syncer = createSyncer({
    db,
    fetch: fetchFn,
    budget,
    apiUrl: API_URL,
    tokenFor: () => EMULATOR_TOKEN,
    hashCacheSize: 100_000,
    log: silentLog,
    clientOptions,
    clientFor: opts.wrapClient
      ? (_source, onRequest) =>
          opts.wrapClient!(
            createAirtableClient({
              apiUrl: API_URL,
              token: EMULATOR_TOKEN,
              fetch: fetchFn,
              budget,
              onRequest,
              ...clientOptions,
            }),
          )
      : undefined,
    ...opts.syncer,
  });
  const tableIdByName = new Map<string, string>();
  const schema = await client.getBaseSchema(DEMO_BASE_ID);
  for (const t of schema.tables) tableIdByName.set(t.name, t.id);
  return {
    db,
    emulator,
    syncer,
    budget,
    clock,
    client,
    verify: () => verifySource({ db, client }, SOURCE_ID),
    mapping: async () => (await loadMapping(db, SOURCE_ID)) ?? { tables: [] },
    async table(name) {
      const m = await loadMapping(db, SOURCE_ID);
      const t = m?.tables.find((x) => x.tableName === name);
      if (!t) throw new Error(`no mirror table for ${name}`);
      return t;
    },
    tableId(name) {
      const id = tableIdByName.get(name);
      if (!id) throw new Error(`no Airtable table ${name}`);
      return id;
    },
  };
}

/** Every row's physical identity: unchanged xmin+ctid for all rows = nothing was written. */
export async function rowVersions(db: Database, t: TableMapping): Promise<string[]> {
  const r = await db.query<{ v: string }>(
    sql(
      `SELECT id || ':' || xmin::text || ':' || ctid::text AS v FROM ${quoteQualified(t.schema, t.table)} ORDER BY id`,
    ),
  );
  return r.rows.map((x) => x.v);
}

export async function countRows(db: Database, t: TableMapping): Promise<number> {
  const r = await db.query<{ n: string }>(
    sql(`SELECT count(*)::text AS n FROM ${quoteQualified(t.schema, t.table)}`),
  );
  return Number(r.rows[0].n);
}

export async function tableState(db: Database, tableId: string) {
  const r = await db.query<{
    status: string | null;
    latest_error: string | null;
    last_synced_at: Date | null;
    row_count: number;
  }>(
    sql('SELECT status, latest_error, last_synced_at, row_count FROM airmirror.tables WHERE table_id = $1', [
      tableId,
    ]),
  );
  return r.rows[0];
}

/**
 * A client whose listing of `tableId` calls `onPage(n)` after page n was fetched and before the
 * sweep sees it — the moment between "page read from Airtable" and "page applied".
 */
export function interceptPages(
  tableId: string,
  onPage: (pageNumber: number, records: AirtableRecord[]) => void | Promise<void>,
): (c: SyncClient) => SyncClient {
  return (c) => ({
    getBaseSchema: (...a) => c.getBaseSchema(...a),
    getRecordsByIds: (...a) => c.getRecordsByIds(...a),
    listAllRecords(baseId, table, params, o) {
      const inner = c.listAllRecords(baseId, table, params, o);
      if (table !== tableId) return inner;
      return (async function* () {
        let n = 0;
        for await (const page of inner) {
          await onPage(++n, page.records);
          yield page;
        }
      })();
    },
  });
}

export { DEMO_BASE_ID, EMULATOR_TOKEN };

/**
 * Stops a table's listing after a number of pages until released, to act while a sync is in the
 * middle of it: `wrap` goes into harness({ wrapClient }), `pauseAfter(n)` arms it for the next
 * listing of a table `which` accepts and resolves once that listing has yielded its n-th page.
 */
export function listingPause(which: (tableId: string) => boolean) {
  let armed: { pages: number; reached: () => void; gate: Promise<void> } | undefined;
  let release = () => {};
  return {
    wrap: (c: SyncClient): SyncClient => ({
      ...c,
      async *listAllPages(baseId, table, params, decode, opts) {
        let page = 0;
        for await (const p of c.listAllPages!(baseId, table, params, decode, opts)) {
          yield p;
          if (armed && which(table) && ++page === armed.pages) {
            const { reached, gate } = armed;
            armed = undefined;
            reached();
            await gate;
          }
        }
      },
    }),
    pauseAfter(pages: number): Promise<void> {
      const gate = new Promise<void>((resolve) => (release = resolve));
      return new Promise<void>((reached) => (armed = { pages, reached, gate }));
    },
    release: () => release(),
  };
}
