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
 * - rebuild: `buildSwapSchema(db, schema, next)` (one round trip; or `prepareSwapSchema` then
 *   `createMirrorTables(db, next, { schema: swap })`) → the syncer fills the swap tables itself
 *   (sync/swap-fill.ts), or
 *   `applyRecords(..., { schemaOverride: swap, fetchedBefore })` (no events; `fencedIds` lists rows
 *   the proxy touched meanwhile, refetch them after promote) → `promoteSwap(db, schema, next, old)`.
 *   `cleanupSwap(db, schema)` at start-up removes a crashed rebuild's leftovers.
 */
export * from './types.ts';
export { buildBaseMapping } from './mapping.ts';
export { schemaHash } from './schema-hash.ts';
export { pgTypeFor, type PgType } from './pg-types.ts';
export { snakeCase, fitIdentifier, swapSchemaName, RESERVED_NAMES } from './naming.ts';
export { convertRecord } from './convert.ts';
export {
  createMirrorTables,
  prepareSwapSchema,
  buildSwapSchema,
  promoteSwap,
  cleanupSwap,
  tableComment,
  columnComment,
  emptyMirrorTable,
  emptySwapTable,
  dropMirrorTable,
  dropMirrorSchema,
} from './ddl.ts';
export { saveMapping, loadMapping } from './store.ts';
export { applyRecords, applyDeletes, deleteUnseen } from './apply.ts';
export { SwapFillBatch } from './swap-fill.ts';
export { takeFence, pruneFence, fencedSince } from './fence.ts';
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
