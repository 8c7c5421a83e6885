/**
 * The mirror: naming + type mapping, schema hash, cell conversion, DDL (incl. swap + promote) and
 * the single write path (docs/ARCHITECTURE.md). How the callers use it:
 *
 * - sweep: `listingFence = takeFence(db)` before the first page; per page `fence = takeFence(db)`
 *   before fetching it, then `applyRecords(db, table, page, { origin: 'sweep', sourceId,
 *   fetchedBefore: fence })`; after a COMPLETE listing `deleteUnseen(db, table, seenIds,
 *   { sourceId, origin: 'sweep', listingFence })`. Bigger batches (several pages per call) are
 *   cheaper: each call is one transaction.
 * - proxy / webhook: `applyRecords(..., { origin, sourceId, keyedBy: 'name' | 'id', stampFence: true })`,
 *   `applyDeletes(..., { origin, sourceId, stampFence: true })`; `UnknownFieldError` means the
 *   schema changed (refresh the mapping).
 * - a base's first build, or a refill of some tables: `buildSwapSchema(db, schema, layout)` (one
 *   round trip) → the syncer fills the swap tables (swap-fill.ts `SwapFillBatch`, or `applyRecords`
 *   with `schemaOverride`: no events; `fencedIds` lists rows the proxy touched meanwhile, refetch
 *   them after the promote) → `promoteTables` (readers' objects carried over, change events for
 *   the rows the refill changed). `cleanupSwap(db, schema)` at start-up removes a crashed
 *   rebuild's leftovers (only airmirror's own swap schema).
 * - a schema change (sync/schema-change.ts): `buildBaseMapping(schema, baseSchema, current,
 *   selection)` → `diffMappings(current, next)` → `dropTable` / `renameTables` / `alterTable` in
 *   place, `promoteTables` for refills → `saveMapping` and `writeSchemaChangedEvent`
 *   (docs/schema-changes.md).
 */
export * from './types.ts';
export { buildBaseMapping, requestedFields, type MappingSelection } from './mapping.ts';
export { schemaHash, mappingHash } from './schema-hash.ts';
export { pgTypeFor, type PgType } from './pg-types.ts';
export { snakeCase, fitIdentifier, swapSchemaName, RESERVED_NAMES } from './naming.ts';
export { convertRecord } from './convert.ts';
export {
  createMirrorTables,
  prepareSwapSchema,
  buildSwapSchema,
  cleanupSwap,
  mirrorTableState,
  foreignSwapSchema,
  tableComment,
  columnComment,
  emptyMirrorTable,
  emptySwapTable,
  dropMirrorTable,
  dropMirrorSchema,
} from './ddl.ts';
export { saveMapping, loadMapping, saveTableMapping, knownFields, columnNames } from './store.ts';
export { promoteTables, promoteSwap, type PromoteArgs, type PromoteResult } from './promote.ts';
export { alterTable, renameTables, dropTable, interimTable } from './alter.ts';
export {
  diffMappings,
  summarize,
  summaryIsEmpty,
  type SchemaPlan,
  type TablePlan,
  type SchemaChangeSummary,
} from './schema-diff.ts';
export { retypeHow, needsValues, type RetypeHow } from './retype.ts';
export { withLockRetry, isLockConflict, DDL_LOCK_TIMEOUT_MS } from './lock-retry.ts';
export { writeSchemaChangedEvent } from './schema-events.ts';
export type { LostObject, ReaderObject } from './dependents.ts';
export { applyRecords, applyDeletes, deleteUnseen } from './apply.ts';
export { SwapFillBatch } from './swap-fill.ts';
export { takeFence, pruneFence, fencedSince, fenceHorizon } from './fence.ts';
export {
  countRows,
  newestTime,
  newestInteger,
  rowsLinkingTo,
  createdTimesOf,
  compareWithMirror,
  unseenRows,
  type RowDifference,
} from './reads.ts';
export {
  ensureHistoryTable,
  recordVersions,
  HISTORY_OBSERVED_AT,
  HISTORY_DELETED,
  type HistoryState,
} from './history.ts';
export { toAirtableCell, isComputedType, ReverseValueError } from './reverse.ts';
export { setWriteGuard, guardTriggerStatements, WRITER_SETTING } from './write-guard.ts';
