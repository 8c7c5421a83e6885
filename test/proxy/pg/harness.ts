import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createAirtableAccess, type AirtableAccessOptions } from '../../../proxy/pg/airtable.ts';
import { startPgEndpoint, type PgEndpoint, type PgEndpointOptions } from '../../../proxy/pg/server.ts';
import { createAirtableClient, type AirtableClient } from '../../../src/airtable/client.ts';
import { createRateBudget, type RateBudget } from '../../../src/airtable/rate-budget.ts';
import type { AirtableRecord } from '../../../src/airtable/types.ts';
import type { CatchupItem } from '../../../src/catchup/types.ts';
import type { Database } from '../../../src/db/database.ts';
import { sql } from '../../../src/db/sql.ts';
import { applyRecords } from '../../../src/mirror/apply.ts';
import type { BaseMapping, TableMapping } from '../../../src/mirror/types.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN, type Emulator } from '../../../emulator/index.ts';
import { startEmulatorServer } from '../../../emulator/server.ts';
import { mirrorBase } from '../fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../../support/db.ts';

export const TLS = {
  cert: readFileSync(join(import.meta.dirname, 'tls-cert.pem')),
  key: readFileSync(join(import.meta.dirname, 'tls-key.pem')),
};

export interface PgStack {
  db: Database;
  /** Postgres itself (the test database, as its superuser). */
  directUrl: string;
  /** The endpoint, same user, password and database. */
  endpointUrl: string;
  endpoint: PgEndpoint;
  emulator: Emulator;
  emulatorUrl: string;
  budget: RateBudget;
  client: AirtableClient;
  sourceId: string;
  mapping: BaseMapping;
  catchup: CatchupItem[];
  /** `METHOD /path` of every request the endpoint sent to Airtable. */
  sent: string[];
  table(name: string): TableMapping;
  /**
   * A connected node-postgres client on the endpoint, or on `url` (another endpoint, or Postgres
   * itself: `directUrl`), ended by close(); `options` add to the URL (application_name, ssl, …).
   */
  connect(url?: string, options?: Omit<pg.ClientConfig, 'connectionString'>): Promise<pg.Client>;
  /** The emulator's record (fields by field id), or undefined when it has none. */
  airtable(table: string, id: string): Promise<AirtableRecord | undefined>;
  /** Every record of an Airtable table, fields by field id. */
  airtableAll(table: string): Promise<AirtableRecord[]>;
  /** A mirror row as Postgres holds it. */
  mirror(table: string, id: string): Promise<Record<string, unknown> | undefined>;
  /** Endpoint URL for another user/password. */
  urlFor(user: string, password: string): string;
  close(): Promise<void>;
}

export interface PgStackOptions {
  records?: number;
  endpoint?: Partial<PgEndpointOptions>;
  emulator?: Emulator;
}

/** `url` (the test database's) on another port, and another user/password when given. */
function onPort(url: string, port: number, user?: string, password?: string): string {
  const u = new URL(url);
  u.port = String(port);
  if (user !== undefined) u.username = encodeURIComponent(user);
  if (password !== undefined) u.password = encodeURIComponent(password);
  return u.toString();
}

/** An endpoint on a free local port in front of `target`, reaching Airtable as `airtable` says; `opts` override. */
function startEndpoint(
  target: { db: Database; databaseUrl: string },
  airtable: AirtableAccessOptions,
  opts: Partial<PgEndpointOptions>,
): Promise<PgEndpoint> {
  return startPgEndpoint({
    host: '127.0.0.1',
    port: 0,
    databaseUrl: target.databaseUrl,
    db: target.db,
    airtable: createAirtableAccess(airtable),
    ...opts,
  });
}

/**
 * The demo base mirrored into the test database the way the syncer would, the emulator over
 * HTTP, and the Postgres endpoint in front of the test database.
 */
export async function startPgStack(t: TestDatabase, opts: PgStackOptions = {}): Promise<PgStack> {
  const emulator = opts.emulator ?? createEmulator({ seed: 'demo', records: opts.records ?? 30 });
  const emu = await startEmulatorServer(emulator);
  const budget = createRateBudget({ perSecond: 10_000 });
  const fetchFn = (i: string | URL | Request, init?: RequestInit) => fetch(i, init);
  const client = createAirtableClient({
    apiUrl: emu.url,
    token: EMULATOR_TOKEN,
    fetch: fetchFn,
    budget,
    maxAttempts: 1,
  });
  const schema = await client.getBaseSchema(DEMO_BASE_ID);
  const { sourceId, mapping } = await mirrorBase(t.db, { baseId: DEMO_BASE_ID, schema });
  for (const tm of mapping.tables) {
    for await (const page of client.listAllRecords(DEMO_BASE_ID, tm.tableId, {
      returnFieldsByFieldId: true,
    })) {
      await applyRecords(t.db, tm, page.records, { origin: 'sweep', sourceId });
    }
  }
  const catchup: CatchupItem[] = [];
  const sent: string[] = [];
  const endpointFetch = (i: string | URL | Request, init?: RequestInit) => {
    sent.push(`${init?.method ?? 'GET'} ${new URL(String(i)).pathname}`);
    return fetch(i, init);
  };
  const endpoint = await startEndpoint(
    { db: t.db, databaseUrl: t.url },
    {
      apiUrl: emu.url,
      fetch: endpointFetch,
      budget,
      tokenFor: async () => EMULATOR_TOKEN,
      timeoutMs: 5_000,
    },
    { catchup: { enqueue: (items) => catchup.push(...items) }, ...opts.endpoint },
  );
  const endpointUrl = onPort(t.url, endpoint.port);
  const clients: pg.Client[] = [];
  const table = (name: string) => {
    const tm = mapping.tables.find((x) => x.tableName === name || x.table === name);
    if (!tm) throw new Error(`no table ${name}`);
    return tm;
  };
  return {
    db: t.db,
    directUrl: t.url,
    endpointUrl,
    endpoint,
    emulator,
    emulatorUrl: emu.url,
    budget,
    client,
    sourceId,
    mapping,
    catchup,
    sent,
    table,
    async connect(url = endpointUrl, options = {}) {
      const c = new pg.Client({ ...options, connectionString: url });
      c.on('error', () => undefined);
      await c.connect();
      clients.push(c);
      return c;
    },
    async airtable(name, id) {
      const [r] = await client.getRecordsByIds(DEMO_BASE_ID, table(name).tableId, [id]);
      return r;
    },
    async airtableAll(name) {
      const out: AirtableRecord[] = [];
      for await (const page of client.listAllRecords(DEMO_BASE_ID, table(name).tableId))
        out.push(...page.records);
      return out;
    },
    async mirror(name, id) {
      const tm = table(name);
      const r = await t.db.query(sql(`SELECT * FROM "${tm.schema}"."${tm.table}" WHERE id = $1`, [id]));
      return r.rows[0];
    },
    urlFor: (user, password) => onPort(t.url, endpoint.port, user, password),
    async close() {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await endpoint.close();
      await emu.close();
    },
  };
}

/**
 * A test file's stack: registers a beforeAll that creates the file's own test database and starts
 * the stack on it (`opts` as startPgStack's), and an afterAll that closes it. The object returned
 * is filled in by that beforeAll, so use it only in hooks registered after this call and in tests.
 */
export function usePgEndpoint(opts: PgStackOptions = {}): PgStack {
  const s = {} as PgStack;
  let started: PgStack | undefined;
  beforeAll(async () => {
    started = await startPgStack(await createTestDatabase(), opts);
    Object.assign(s, started);
  });
  afterAll(() => started?.close());
  return s;
}

/**
 * Another endpoint in front of the stack's database, closed by the test. Its Airtable is the
 * stack's emulator through a plain fetch and a budget of its own (1000 a second) unless `airtable`
 * says otherwise; the stack's `sent` and `catchup` do not see it.
 */
export async function startSecondEndpoint(
  s: PgStack,
  opts: Partial<Omit<PgEndpointOptions, 'airtable'>> & { airtable?: Partial<AirtableAccessOptions> } = {},
): Promise<PgEndpoint & { url: string }> {
  const { airtable, ...endpoint } = opts;
  const ep = await startEndpoint(
    { db: s.db, databaseUrl: s.directUrl },
    {
      apiUrl: s.emulatorUrl,
      fetch: (i, init) => fetch(i, init),
      budget: createRateBudget({ perSecond: 1000 }),
      tokenFor: async () => EMULATOR_TOKEN,
      timeoutMs: 5_000,
      ...airtable,
    },
    endpoint,
  );
  return Object.assign(ep, { url: onPort(s.directUrl, ep.port) });
}

/** A CancelRequest for `client`'s running query, as libpq sends one: a connection of its own. */
export async function cancelQuery(url: string, client: pg.Client): Promise<void> {
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
  const u = new URL(url);
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(processID, 8);
  packet.writeInt32BE(secretKey, 12);
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port) }, () => sock.end(packet));
    sock.on('close', () => resolve());
    sock.on('error', reject);
  });
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function refusal(p: Promise<unknown>): Promise<pg.DatabaseError> {
  try {
    await p;
  } catch (err) {
    return err as pg.DatabaseError;
  }
  throw new Error('expected the statement to fail');
}
