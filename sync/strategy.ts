import type { Database } from '../src/db/database.ts';
import type { AirtableClient } from '../src/airtable/index.ts';
import type { Logger } from '../src/log.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import type { RecordHashCache } from './hash-cache.ts';
import type { PageMemo } from './page-memo.ts';
import type { RunCounters } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import type { Table } from '../src/bookkeeping/tables.ts';

/**
 * What the syncer needs from the Airtable client (src/airtable `createAirtableClient`).
 * `listAllPages` is optional: without it (a wrapped client in tests) the sweep reads parsed pages.
 */
export type SyncClient = Pick<AirtableClient, 'getBaseSchema' | 'listAllRecords' | 'getRecordsByIds'> &
  Partial<Pick<AirtableClient, 'listAllPages'>>;

/** Progress of one table's run, reported to SyncerDeps.onProgress (see types.ts). */
export interface ProgressReporter {
  /** A page of `records` records was applied (or found unchanged). */
  page(records: number): void;
  /** The listing completed; unseen rows are being deleted. */
  deleting(): void;
  /** The table's run ended (whatever its outcome). */
  done(): void;
}

/** Options of the sweep when another strategy uses it as a building block. */
export interface SweepOptions {
  /** Force every record through the write path (the hash cache is not consulted). */
  ignoreCache?: boolean;
}

/**
 * Everything one run of one table gets. A strategy reads Airtable through `client`, writes only
 * through the mirror's single write path (`applyRecords` / `applyDeletes` / `deleteUnseen` from
 * src/mirror with `db`), counts what it did in `run`, and stops promptly when `signal` aborts
 * (throwing; the syncer then marks the table Cancelled). It never touches status columns: the
 * syncer moves the state machine around `run()` — resolve = Completed, throw = Failed.
 */
export interface TableSyncContext {
  db: Database;
  client: SyncClient;
  source: Source;
  /** The table's mirror mapping (columns, Postgres schema and name). */
  table: TableMapping;
  /** The table's `airmirror.tables` row (sync configuration, high-water mark, …). */
  config: Table;
  run: RunCounters;
  /**
   * Hashes of records as last written by a sweep. A strategy that writes rows itself must keep it
   * honest: `hashCache.forget(table.tableId, id)` (or `learn` the new hash via `recordHash`) for
   * every row it changes, or a later sweep may skip a record whose row it changed.
   */
  hashCache: RecordHashCache;
  signal: AbortSignal;
  log: Logger;
  now: () => number;
  /** The caller asked for a full refresh (resync / periodic reconciliation). */
  full: boolean;
  /** The full_refresh sweep of this table (list all, upsert changed, delete unseen), e.g. for reconciliation. */
  sweep(opts?: SweepOptions): Promise<void>;
  /** Present when someone listens (SyncerDeps.onProgress); strategies that page may report. */
  progress?: ProgressReporter;
  /** The sweep's memo of decoded pages (page-memo.ts); absent when the hash cache is off. */
  pageMemo?: PageMemo;
}

/**
 * One sync type. The syncer looks strategies up by `airmirror.tables.sync_type`. Built in:
 * `full_refresh` (sync/full-refresh.ts). Others are passed to `createSyncer({ strategies })`;
 * the expected modules are sync/incremental.ts (`incrementalStrategy`) and sync/append.ts
 * (`appendStrategy`).
 */
export interface SyncStrategy {
  readonly syncType: string;
  run(ctx: TableSyncContext): Promise<void>;
}

export type StrategyRegistry = ReadonlyMap<string, SyncStrategy>;

export function strategyRegistry(strategies: readonly SyncStrategy[]): StrategyRegistry {
  const m = new Map<string, SyncStrategy>();
  for (const s of strategies) m.set(s.syncType, s);
  return m;
}
