/**
 * The syncer's types: what it is given (`SyncerDeps`), what it does (`Syncer`) and what its runs
 * report, and `SyncerEnv`, what its parts share (internal to sync/).
 */
import type { AirtableClientOptions, AirtableRequestEvent, RateBudget } from '../src/airtable/index.ts';
import type { BaseSchema } from '../src/airtable/types.ts';
import type { RunCounters } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import type { Table } from '../src/bookkeeping/tables.ts';
import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import type { RecordHashCache } from './hash-cache.ts';
import type { BaseOwnership, BaseWork } from './ownership.ts';
import type { RunProgress } from './run-progress.ts';
import type { StrategyRegistry, SyncClient, SyncStrategy, TableSyncContext } from './strategy.ts';

/**
 * One progress report of a table's run (issue 7: a progress bar per table on a TTY). `pages` and
 * `records` count what the run has listed so far (never decreasing; a restarted listing keeps
 * counting), `startedAt` is when the table's run began (ms, SyncerDeps.now).
 */
export interface SyncProgress {
  sourceId: string;
  tableId: string;
  tableName: string;
  mirrorTable: string;
  phase: 'listing' | 'deleting' | 'done';
  pages: number;
  records: number;
  startedAt: number;
}

export interface SyncerDeps {
  db: Database;
  fetch: typeof fetch;
  /** The process-wide per-base request budget (shared with the proxy and webhooks). */
  budget: RateBudget;
  /** Where api.airtable.com really is (config.airtableApiUrl). */
  apiUrl: string;
  /** The token of a source: env-configured ones from config (memory), API-created ones decrypted. */
  tokenFor(source: Source): string | Promise<string>;
  /** Entries of the record-hash cache (config.hashCacheSize); 0 disables it. */
  hashCacheSize: number;
  log: Logger;
  now?: () => number;
  /** The wait of the syncer's background loop (schema-read retries); tests pass a fake clock's. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Sync types besides the built-in full_refresh (incremental, append, webhook). */
  strategies?: readonly SyncStrategy[];
  /** Extra client options (timeouts, attempts, and for tests an injected clock/sleep). */
  clientOptions?: Partial<Omit<AirtableClientOptions, 'apiUrl' | 'token' | 'fetch' | 'budget' | 'onRequest'>>;
  /** Replaces how a source's client is made (must call onRequest per attempt for run accounting). */
  clientFor?: (
    source: Source,
    onRequest: (e: AirtableRequestEvent) => void,
  ) => SyncClient | Promise<SyncClient>;
  /** Records per write-path call and listing restarts per run. */
  sweep?: { batchSize?: number; maxRestarts?: number; prefetchPages?: number };
  /**
   * Which bases this process works on (sync/ownership.ts, docs/ownership.md). Given, it is the
   * composer's: started and stopped by it. Default: a `once` manager of the syncer's own, which
   * claims every free base at `start()` and others as runs need them, and lets them go at `stop()`.
   */
  ownership?: BaseOwnership;
  /** How often running syncs' counters are written for `status` (run-progress.ts). Default 2 s. */
  progressIntervalMs?: number;
  /** Share a cache (e.g. with an incremental strategy living elsewhere); default: a new one. */
  hashCache?: RecordHashCache;
  /**
   * Called after each page a sweep has processed (its records found unchanged, or handed to the
   * write path, which writes per batch of ~10 pages), when a sweep starts deleting, and when each
   * table's run ends (phase 'done', whatever the outcome). Synchronous and on the sweep's path:
   * keep it cheap (throttle drawing). Not called at all when absent.
   */
  onProgress?: (e: SyncProgress) => void;
}

export interface SyncOptions {
  signal?: AbortSignal;
  /** Full refresh: forget the table's record hashes first, so every record goes to the write path. */
  full?: boolean;
}

export type TableOutcome = 'Completed' | 'Failed' | 'Cancelled' | 'Skipped';

export interface TableSyncResult {
  sourceId: string;
  tableId: string;
  tableName: string;
  mirrorTable: string;
  status: TableOutcome;
  /** Why a table was skipped (paused, already running, vanished, unknown). */
  reason?: string;
  error?: string;
  /** Whether this run was part of a schema rebuild. */
  rebuild: boolean;
  counters: RunCounters;
  runId?: string;
  /** Skipped because another process owns the base (its owner runs it). */
  notOwner?: boolean;
  /** Stopped because the process stopped or lost the base (Failed; its owner runs it again). */
  interrupted?: boolean;
}

export interface SourceSyncResult {
  sourceId: string;
  baseId: string;
  schema: string;
  /** The base schema differed from the one the mirror was built from (or there was none yet). */
  schemaChanged: boolean;
  /** A rebuild was promoted. */
  rebuilt: boolean;
  /** Source-level failure (schema read, rebuild). */
  error?: string;
  /** Not synced: another process owns the base (and says which). */
  skipped?: string;
  tables: TableSyncResult[];
}

export interface SchemaRefreshResult {
  hash: string;
  changed: boolean;
  rebuilt: boolean;
  /** Per-table results of the rebuild, when there was one. */
  tables: TableSyncResult[];
  error?: string;
  /** Not done here: another process owns the base. */
  skipped?: string;
}

export interface Syncer {
  /** Start-up work: drop leftover swap schemas of crashed rebuilds, fail runs a crash interrupted. */
  start(): Promise<void>;
  /** Aborts running syncs and waits for them to settle. */
  stop(): Promise<void>;
  syncAll(opts?: SyncOptions): Promise<SourceSyncResult[]>;
  syncSource(sourceId: string, opts?: SyncOptions): Promise<SourceSyncResult>;
  /** Airtable table id (tbl…) or the airmirror.tables row id. */
  syncTable(sourceId: string, tableId: string, opts?: SyncOptions): Promise<TableSyncResult>;
  /**
   * Resync: wipes and re-imports these tables (Airtable table ids or row ids) from scratch, built
   * fresh beside the live tables and swapped in (sync/resync.ts).
   */
  resync(sourceId: string, tableIds: string[], opts?: SyncOptions): Promise<TableSyncResult[]>;
  /** Aborts the running sync of a table (by Airtable table id or row id); false when none runs. */
  cancel(tableId: string): boolean;
  /** Re-reads the base schema and rebuilds the mirror when it changed (the proxy calls it on an unknown name). */
  refreshSchema(sourceId: string, opts?: { signal?: AbortSignal }): Promise<SchemaRefreshResult>;
  /**
   * A base schema this process read a moment ago (creating the source): the source's next schema
   * step uses it instead of reading it again, within a few seconds (sync/primed-schemas.ts).
   */
  primeSchema(sourceId: string, baseSchema: BaseSchema): void;
  readonly hashCache: RecordHashCache;
  /** Which bases this process works on. */
  readonly ownership: BaseOwnership;
}

/** Everything the syncer's parts share; internal to sync/. */
export interface SyncerEnv {
  db: Database;
  log: Logger;
  now: () => number;
  hashCache: RecordHashCache;
  sweep: { batchSize?: number; maxRestarts?: number; prefetchPages?: number };
  /** The sync types, by `airmirror.tables.sync_type`. */
  strategies: StrategyRegistry;
  /** The Airtable client of a source (made once per token). */
  clientOf(source: Source): Promise<SyncClient>;
  /** Runs `fn` with `counters` receiving the Airtable requests made inside it. */
  counting<T>(counters: RunCounters, fn: () => Promise<T>): Promise<T>;
  /** A controller aborted by `signal` or by the syncer's stop(); `done()` releases it. */
  controller(signal?: AbortSignal): { ac: AbortController; done(): void };
  /** Registers an abort controller under table keys so `cancel` finds it. */
  track(keys: string[], ac: AbortController): () => void;
  /** Table runs in progress, whose counters `status` shows while they run. */
  runProgress: RunProgress;
  /** Leases on bases: a base's work runs only while this process owns it. */
  ownership: BaseWork;
  /** Why a base cannot be worked on here ("owned by …"). */
  notOwnedReason(sourceId: string): Promise<string>;
  /** The same env over a base's lease database (every statement fenced by the owner's epoch). */
  forBase(db: Database): SyncerEnv;
  contextFor(args: {
    source: Source;
    client: SyncClient;
    table: TableMapping;
    row: Table;
    counters: RunCounters;
    signal: AbortSignal;
    full: boolean;
    onSweep?: () => void;
  }): TableSyncContext;
}
