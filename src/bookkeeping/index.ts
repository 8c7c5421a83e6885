/**
 * airmirror's bookkeeping rows: sources (bases), tables (sync configuration and state, with the
 * per-table state machine), sync runs, the scheduler's columns and source tokens. Every statement
 * on `airmirror.sources`, `airmirror.tables` and `airmirror.sync_runs` is in this folder; readers
 * get camelCase rows (`Source`, `Table`, `SyncRun`), never the raw ones (rows.ts).
 */
export * from './state.ts';
export { SYNC_FREQUENCIES, frequencyMs, type SyncFrequency } from './frequency.ts';
export {
  loadSource,
  listSources,
  sourceByBase,
  sourceIdBySchema,
  sourceConflicts,
  insertSource,
  updateSourceSettings,
  deleteSource,
  setSchemaHash,
  configSourceId,
  ensureSourcesFromConfig,
  type Source,
} from './sources.ts';
export {
  listTables,
  sourceTables,
  loadTable,
  findTable,
  mirroredTables,
  tablesOfSyncType,
  changeStatus,
  applyTableEvent,
  failInterruptedRuns,
  lastRowCounts,
  tableLags,
  type Table,
  type TableEventOptions,
} from './tables.ts';
export {
  insertDiscoveredTables,
  saveMappedTables,
  updateTableConfig,
  markDataDeleted,
  storeHighWaterMark,
  storeIntegerHighWaterMark,
  historyState,
  setHistoryTable,
  setNeedsCatchup,
  markNeedsCatchup,
  clearNeedsCatchup,
  type MappedTable,
  type TableChanges,
} from './table-config.ts';
export {
  schedulableTables,
  setNextRunIfUnset,
  postponeNextRun,
  runLeftovers,
  recordRunFailure,
  recordRunStopped,
  recordRunSuccess,
  unbuiltSources,
  runSoon,
} from './schedule.ts';
export {
  newCounters,
  startRun,
  finishRun,
  countWrite,
  addCounters,
  recordProgress,
  failRunningRuns,
  runningRuns,
  type RunCounters,
  type RunKind,
  type RunStatus,
  type RunStart,
  type SyncRun,
  type RunningRun,
} from './runs.ts';
export { storedToken, tokenResolver } from './tokens.ts';
export { callsThisMonth, callsThisMonthByToken, type CallCount } from './airtable-calls.ts';
export {
  processViews,
  baseHolder,
  type BaseLease,
  type BaseWork,
  type OwnershipMessage,
  type ProcessView,
} from './ownership.ts';
