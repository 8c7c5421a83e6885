/** The syncer: sweep, rebuilds, the sync types, runs, verify. Its bookkeeping rows are src/bookkeeping's. */
export { createSyncer } from './syncer.ts';
export type {
  SchemaRefreshResult,
  SourceSyncResult,
  SyncOptions,
  Syncer,
  SyncerDeps,
  SyncProgress,
  TableOutcome,
  TableSyncResult,
} from './types.ts';
export {
  createBaseOwnership,
  type BaseOwnership,
  type OwnershipMessage,
  type OwnershipOptions,
} from './ownership.ts';
export type {
  SweepOptions,
  StrategyRegistry,
  SyncClient,
  SyncStrategy,
  ProgressReporter,
  TableSyncContext,
} from './strategy.ts';
export { strategyRegistry } from './strategy.ts';
export { fullRefreshStrategy } from './full-refresh.ts';
export { sweepTable, isListingRestart, ListingRestartsExhausted, type SweepRun } from './sweep.ts';
export { createHashCache, hashText, recordHash, type RecordHashCache } from './hash-cache.ts';
export { verifySource, type TableDrift, type VerifyOptions, type VerifyReport } from './verify.ts';
export { openCommandDatabase, syncerFromConfig } from './runtime.ts';
