import type { AirtableRecord } from '../src/airtable/types.ts';

/**
 * A list-records page (docs/airtable-reference.md §1.1: `{"records":[…],"offset":"…"}`) located rather than parsed:
 * each record's id and the span of its JSON text in the body. A no-change sweep only needs the id
 * and a hash of the text of each record, and parsing 100k records into objects (then throwing them
 * away because the hash cache knew them) was most of its CPU. Records are parsed one by one, only
 * when wanted (`record(i)`).
 *
 * The scanner follows JSON's structure (strings with escapes, nesting) without validating scalars;
 * anything it does not expect (escaped keys, a record without a plain string id, a body that is not
 * an object with a `records` array) makes `scanListPage` return undefined, and the caller falls
 * back to JSON.parse of the whole body, which reports malformed JSON as before.
 */
export interface ScannedPage {
  readonly text: string;
  readonly offset?: string;
  /** Record ids, in page order. */
  readonly ids: string[];
  /** Record i is text[starts[i], ends[i]). */
  readonly starts: number[];
  readonly ends: number[];
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const ID_FIRST = '{"id":"';

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function skipSpace(t: string, i: number): number {
  while (i < t.length && isSpace(t.charCodeAt(i))) i++;
  return i;
}

/** `i` at an opening quote; the index after the closing quote, or -1. */
function stringEnd(t: string, i: number): number {
  for (;;) {
    const q = t.indexOf('"', i + 1);
    if (q < 0) return -1;
    let b = q - 1;
    while (t.charCodeAt(b) === BACKSLASH) b--;
    // An even number of backslashes before the quote: it is not escaped.
    if ((q - 1 - b) % 2 === 0) return q + 1;
    i = q;
  }
}

/** `i` at `{` or `[`; the index after the matching close, or -1. */
function compositeEnd(t: string, i: number): number {
  let depth = 0;
  for (const n = t.length; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(t, i) - 1;
      if (i < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/** `i` at the first character of a value; the index after it, or -1. */
function valueEnd(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === QUOTE) return stringEnd(t, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) return compositeEnd(t, i);
  const start = i;
  for (const n = t.length; i < n; i++) {
    const d = t.charCodeAt(i);
    if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isSpace(d)) break;
  }
  return i > start ? i : -1;
}

/** A key without escapes (the only kind a list page uses), or undefined. */
function plainKey(t: string, i: number, end: number): string | undefined {
  const key = t.slice(i + 1, end - 1);
  return key.includes('\\') ? undefined : key;
}

/**
 * Walks the members of the object starting at `i` (at `{`), calling `member(key, valueStart)`,
 * which returns the index after the value (or -1). Returns the index after `}`, or -1.
 */
function walkObject(t: string, i: number, member: (key: string, at: number) => number): number {
  if (t.charCodeAt(i) !== OPEN_BRACE) return -1;
  i = skipSpace(t, i + 1);
  if (t.charCodeAt(i) === CLOSE_BRACE) return i + 1;
  for (;;) {
    if (t.charCodeAt(i) !== QUOTE) return -1;
    const keyEnd = stringEnd(t, i);
    if (keyEnd < 0) return -1;
    const key = plainKey(t, i, keyEnd);
    if (key === undefined) return -1;
    i = skipSpace(t, keyEnd);
    if (t.charCodeAt(i) !== COLON) return -1;
    i = member(key, skipSpace(t, i + 1));
    if (i < 0) return -1;
    i = skipSpace(t, i);
    const c = t.charCodeAt(i);
    if (c === CLOSE_BRACE) return i + 1;
    if (c !== COMMA) return -1;
    i = skipSpace(t, i + 1);
  }
}

export function scanListPage(text: string): ScannedPage | undefined {
  const ids: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let offset: string | undefined;
  let sawRecords = false;

  const recordMember = (holder: { id?: string }) => (key: string, at: number) => {
    const end = valueEnd(text, at);
    if (key === 'id') {
      if (end < 0 || text.charCodeAt(at) !== QUOTE) return -1;
      // JSON.parse makes a string of its own; a slice would be a view that keeps the whole page
      // body alive for as long as the id is held (the sweep's seen-set: every page of the table).
      holder.id = JSON.parse(text.slice(at, end)) as string;
    }
    return end;
  };

  const records = (at: number): number => {
    if (text.charCodeAt(at) !== OPEN_BRACKET) return -1;
    let i = skipSpace(text, at + 1);
    if (text.charCodeAt(i) === CLOSE_BRACKET) return i + 1;
    for (;;) {
      let id: string | undefined;
      let end: number;
      // Airtable's (and the emulator's) compact form starts every record with its id: take it
      // and jump to the record's end; any other layout walks the record's members.
      if (text.startsWith(ID_FIRST, i)) {
        const idEnd = stringEnd(text, i + ID_FIRST.length - 1);
        if (idEnd < 0) return -1;
        id = JSON.parse(text.slice(i + ID_FIRST.length - 1, idEnd)) as string;
        end = compositeEnd(text, i);
      } else {
        const holder: { id?: string } = {};
        end = walkObject(text, i, recordMember(holder));
        id = holder.id;
      }
      if (end < 0 || id === undefined) return -1;
      ids.push(id);
      starts.push(i);
      ends.push(end);
      i = skipSpace(text, end);
      const c = text.charCodeAt(i);
      if (c === CLOSE_BRACKET) return i + 1;
      if (c !== COMMA) return -1;
      i = skipSpace(text, i + 1);
    }
  };

  const end = walkObject(text, skipSpace(text, 0), (key, at) => {
    if (key === 'records') {
      sawRecords = true;
      return records(at);
    }
    const e = valueEnd(text, at);
    if (key === 'offset' && e > 0) {
      const v: unknown = JSON.parse(text.slice(at, e));
      if (v !== null && typeof v !== 'string') return -1;
      offset = v ?? undefined;
    }
    return e;
  });
  if (end < 0 || !sawRecords || skipSpace(text, end) !== text.length) return undefined;
  return { text, offset, ids, starts, ends };
}

/** Record i of a scanned page, parsed. */
export function scannedRecord(page: ScannedPage, i: number): AirtableRecord {
  return JSON.parse(page.text.slice(page.starts[i], page.ends[i])) as AirtableRecord;
}
