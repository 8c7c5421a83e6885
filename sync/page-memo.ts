import { createHash } from 'node:crypto';

/**
 * Pages of a table's previous listing, remembered by a hash of their records' text: the ids and
 * record hashes a page decodes to (page-scan.ts + hashText) are a pure function of that text, so a
 * page whose records come back byte for byte the same needs neither scanning nor hashing again.
 * On a no-change sweep that is every page, and those two were a fifth of its CPU.
 *
 * This only replaces computation: whether a record may be skipped is still decided record by
 * record by the RecordHashCache (which forgets foreign writes, learns only after commits). The key
 * is SHA-1 of the records' text (the `offset` is left out: Airtable's iterator ids differ on every
 * listing); a collision would need two different pages with equal SHA-1, which non-adversarial
 * data does not produce. Memory: one entry per page of the last two listings (100 ids shared with
 * the cache's keys, 100 numbers), about 20-40 bytes per listed record.
 */
export interface MemoPage {
  ids: string[];
  hashes: number[];
}

export class PageMemo {
  private previous = new Map<string, MemoPage>();
  private current = new Map<string, MemoPage>();

  /** A listing begins: the pages of the one before stay findable until the next begins. */
  startListing(): void {
    if (this.current.size > 0) this.previous = this.current;
    this.current = new Map();
  }

  get(key: string): MemoPage | undefined {
    const page = this.previous.get(key) ?? this.current.get(key);
    if (page) this.current.set(key, page);
    return page;
  }

  set(key: string, page: MemoPage): void {
    this.current.set(key, page);
  }

  get size(): number {
    return this.previous.size + this.current.size;
  }
}

/** Per table, owned by the syncer next to its RecordHashCache. */
export class PageMemos {
  private readonly byTable = new Map<string, PageMemo>();

  of(tableId: string): PageMemo {
    let m = this.byTable.get(tableId);
    if (!m) this.byTable.set(tableId, (m = new PageMemo()));
    return m;
  }
}

const HEAD = '{"records":';
const OFFSET_KEY = '],"offset":"';

/**
 * The span of the records array in a page in Airtable's compact layout,
 * `{"records":[…]}` or `{"records":[…],"offset":"…"}`, and the offset; undefined for any other
 * layout (the caller then scans without the memo).
 */
export function recordsSpan(text: string): { start: number; end: number; offset?: string } | undefined {
  if (!text.startsWith(HEAD) || text.charCodeAt(HEAD.length) !== 91) return undefined;
  if (text.endsWith(']}')) return { start: HEAD.length, end: text.length - 1 };
  if (!text.endsWith('"}')) return undefined;
  const k = text.lastIndexOf(OFFSET_KEY);
  if (k < 0) return undefined;
  const offset = text.slice(k + OFFSET_KEY.length, text.length - 2);
  // No quote or backslash in it: the tail is exactly `],"offset":"<offset>"}`.
  if (offset.includes('"') || offset.includes('\\')) return undefined;
  return { start: HEAD.length, end: k + 1, offset };
}

export function spanKey(text: string, start: number, end: number): string {
  return createHash('sha1').update(text.slice(start, end)).digest('base64');
}
