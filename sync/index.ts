/** The syncer: per-table state machine, sweep, rebuilds, runs, verify. */
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
} from './syncer.ts';
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
export * from '../src/bookkeeping/state.ts';
export {
  applyTableEvent,
  loadTableRow,
  loadTableRows,
  failInterruptedRuns,
  type TableRow,
} from '../src/bookkeeping/tables.ts';
export {
  ensureSourcesFromConfig,
  listSources,
  loadSource,
  configSourceId,
  type SourceRow,
} from '../src/bookkeeping/sources.ts';
export {
  newCounters,
  startRun,
  finishRun,
  type RunCounters,
  type RunKind,
  type RunStatus,
} from '../src/bookkeeping/runs.ts';
export { verifySource, type TableDrift, type VerifyOptions, type VerifyReport } from './verify.ts';
export { tokenResolver } from './tokens.ts';
export { openCommandDatabase, syncerFromConfig } from './runtime.ts';
