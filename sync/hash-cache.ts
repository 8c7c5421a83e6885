import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AirtableRecord } from '../src/airtable/types.ts';

/**
 * A short hash of what a sweep would write for a record: its id, createdTime and every cell
 * (keyed by field id), as Airtable sent them. Keys are NOT sorted: Airtable sends a table's fields
 * in one order for a given schema, and sorting costs more than all the rest of the hash (it
 * doubled the CPU of a no-change sweep). A different order only costs a cache miss — the write
 * path's IS DISTINCT FROM still writes nothing — and a schema change rebuilds the cache anyway.
 *
 * 48 bits of SHA-1: a changed record is mistaken for unchanged with probability 2^-48 per change,
 * and the number stays a plain JS double (no string per entry).
 */
export function recordHash(record: AirtableRecord): number {
  return createHash('sha1')
    .update(record.id + '\u0000' + record.createdTime + '\u0000' + JSON.stringify(record.fields ?? {}))
    .digest()
    .readUIntBE(0, 6);
}

/**
 * Hashes of records as last written to the mirror, per table, bounded (LRU). It holds hashes,
 * never records. Rules the syncer keeps (issue 3):
 * - `learn` only after the write that stored that version committed;
 * - `forget` a record whose write was skipped by the row fence, or whose mirror row another
 *   writer (proxy, webhook, incremental) may have changed — otherwise a later sweep could skip a
 *   record whose mirror row no longer matches Airtable.
 */
export interface RecordHashCache {
  /** True when the mirror row of `recordId` was last written from a record with this hash. */
  isKnown(tableId: string, recordId: string, hash: number): boolean;
  learn(tableId: string, recordId: string, hash: number): void;
  forget(tableId: string, recordId: string): void;
  /** Drops every entry of a table (rebuilds, failed rebuilds, dropped tables). */
  forgetTable(tableId: string): void;
  /**
   * The fence value up to which other writers' changes to this table were already taken into
   * account (see sweep.ts `forgetForeignWrites`); undefined until the first sweep of the table.
   */
  fenceMark(tableId: string): string | undefined;
  setFenceMark(tableId: string, fence: string): void;
  readonly size: number;
  readonly max: number;
}

const key = (tableId: string, recordId: string) => tableId + ':' + recordId;

export function createHashCache(opts: { max: number }): RecordHashCache {
  const max = Math.max(0, Math.trunc(opts.max));
  if (max === 0) return disabledCache;
  const lru = new LRUCache<string, number>({ max });
  const marks = new Map<string, string>();
  return {
    fenceMark: (tableId) => marks.get(tableId),
    setFenceMark: (tableId, fence) => void marks.set(tableId, fence),
    isKnown: (tableId, recordId, hash) => lru.get(key(tableId, recordId)) === hash,
    learn: (tableId, recordId, hash) => void lru.set(key(tableId, recordId), hash),
    forget: (tableId, recordId) => void lru.delete(key(tableId, recordId)),
    forgetTable(tableId) {
      const prefix = tableId + ':';
      const doomed: string[] = [];
      for (const k of lru.keys()) if (k.startsWith(prefix)) doomed.push(k);
      for (const k of doomed) lru.delete(k);
      marks.delete(tableId);
    },
    get size() {
      return lru.size;
    },
    max,
  };
}

/** hashCacheSize = 0: every record goes to the write path (which still writes nothing unchanged). */
const disabledCache: RecordHashCache = {
  fenceMark: () => undefined,
  setFenceMark: () => undefined,
  isKnown: () => false,
  learn: () => undefined,
  forget: () => undefined,
  forgetTable: () => undefined,
  size: 0,
  max: 0,
};
