import { LRUCache } from 'lru-cache';
import type { AirtableRecord } from '../src/airtable/types.ts';

/**
 * A 53-bit hash of a record's JSON text as Airtable sent it (id, createdTime and every cell keyed
 * by field id, in Airtable's order). The sweep hashes the span of each record in the page body
 * (page-scan.ts) without parsing it; `recordHash` hashes `JSON.stringify(record)`, which is the
 * same text for Airtable's compact JSON, so both agree. Any other difference in the text (key
 * order, number or escape spelling) only costs a cache miss: the write path's IS DISTINCT FROM
 * still writes nothing for an unchanged row, and a schema change rebuilds the cache anyway.
 *
 * cyrb53 (two 32-bit multiply-xor lanes, final avalanche; public domain), not a crypto hash: it
 * reads each UTF-16 unit once in JS, ~3x cheaper than stringify + SHA-1 on 780-byte records. A
 * changed record is mistaken for unchanged only if its new text collides with the one hash kept
 * for it: about 2^-53 per change for non-adversarial data. Someone able to write crafted records
 * into the base could aim for a collision; the price is a mirror row that keeps the previous
 * version until the next `full` refresh (which forgets the cache), so a crypto hash is not worth
 * its cost here. The value is a safe integer: a plain JS double per cache entry, no string.
 */
export function hashText(text: string, start = 0, end = text.length): number {
  let h1 = 0xdeadbeef ^ (end - start);
  let h2 = 0x41c6ce57 ^ (end - start);
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The hash of a parsed record: its JSON text as Airtable would have sent it (see hashText). */
export function recordHash(record: AirtableRecord): number {
  return hashText(JSON.stringify(record));
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

/**
 * The bounded store behind the cache: one lru-cache (issue 3) of hashes — plain numbers, never
 * records — keyed by a short per-table code plus the record id. Codes (`0|`, `1|`, …) instead of
 * the 17-character table id keep the key, and so each lookup and entry, small.
 */
export function createHashCache(opts: { max: number }): RecordHashCache {
  const max = Math.max(0, Math.trunc(opts.max));
  if (max === 0) return disabledCache;
  const lru = new LRUCache<string, number>({ max });
  const codes = new Map<string, string>();
  const marks = new Map<string, string>();
  const prefix = (tableId: string): string => {
    let code = codes.get(tableId);
    if (code === undefined) {
      code = `${codes.size.toString(36)}|`;
      codes.set(tableId, code);
    }
    return code;
  };
  return {
    fenceMark: (tableId) => marks.get(tableId),
    setFenceMark: (tableId, fence) => void marks.set(tableId, fence),
    isKnown: (tableId, recordId, hash) => lru.get(prefix(tableId) + recordId) === hash,
    learn: (tableId, recordId, hash) => void lru.set(prefix(tableId) + recordId, hash),
    forget: (tableId, recordId) => void lru.delete(prefix(tableId) + recordId),
    forgetTable(tableId) {
      // Rare (rebuilds, full refreshes, dropped tables): a scan of the keys is fine.
      const p = prefix(tableId);
      for (const key of [...lru.keys()]) if (key.startsWith(p)) lru.delete(key);
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
