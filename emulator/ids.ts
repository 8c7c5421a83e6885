/**
 * Deterministic ids. Every Airtable object id is a 3-letter prefix + 14 alphanumerics
 * (docs/airtable-reference.md §0 "ID formats"); seeded bases derive theirs from a PRNG so a seed always
 * produces the same ids, run after run.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** mulberry32: tiny, fast, good enough for fixtures (not for secrets). */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = () => number;

export function randomChars(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(rng() * 62)];
  return s;
}

export function makeId(prefix: string, rng: Rng): string {
  return prefix + randomChars(rng, 14);
}

export const ID_RE = /^[a-z]{3}[A-Za-z0-9]{14}$/;

export function isId(value: string, prefix: string): boolean {
  return value.length === 17 && value.startsWith(prefix) && ID_RE.test(value);
}

function toBase62(n: number, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) {
    s = ALPHABET[n % 62] + s;
    n = Math.floor(n / 62);
  }
  return s;
}

function fromBase62(s: string): number {
  let n = 0;
  for (const ch of s) {
    const d = ALPHABET.indexOf(ch);
    if (d < 0) return -1;
    n = n * 62 + d;
  }
  return n;
}

// A 4-round Feistel permutation over 32 bits, so generated record ids look scattered (like real
// ones) yet map back to their row index in O(1) — that is what lets a million-row table exist
// without a million stored ids.
function round(x: number, k: number): number {
  return (Math.imul(x ^ k, 0x45d9f3b) >>> 16) & 0xffff;
}
const KEYS = [0x9e37, 0x7f4a, 0x1b87, 0xc2b2];
function permute(i: number): number {
  let l = (i >>> 16) & 0xffff;
  let r = i & 0xffff;
  for (const k of KEYS) [l, r] = [r, l ^ round(r, k)];
  return ((l << 16) | r) >>> 0;
}
function unpermute(p: number): number {
  let l = (p >>> 16) & 0xffff;
  let r = p & 0xffff;
  for (let j = KEYS.length - 1; j >= 0; j--) [l, r] = [r ^ round(l, KEYS[j]), l];
  return ((l << 16) | r) >>> 0;
}

/** Ids for row `i` of a generated table: 'rec' + 8-char table salt + 6 base62 chars. */
export interface IndexedIds {
  idAt(i: number): string;
  /** The row index of `id`, or -1 when it is not one of these ids. */
  indexOf(id: string): number;
}

export function indexedIds(prefix: string, salt: string): IndexedIds {
  const head = prefix + salt.slice(0, 8);
  return {
    idAt: (i) => head + toBase62(permute(i), 6),
    indexOf(id) {
      if (id.length !== 17 || !id.startsWith(head)) return -1;
      const p = fromBase62(id.slice(11));
      return p < 0 || p > 0xffffffff ? -1 : unpermute(p);
    },
  };
}
