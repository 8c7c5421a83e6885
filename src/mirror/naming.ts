import { createHash } from 'node:crypto';

/** Postgres' limit on identifier length (NAMEDATALEN - 1), in bytes. */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * Words a mirror name never takes, so SQL readers can use every name unquoted: Postgres'
 * reserved and type/function-name keywords (pg_get_keywords() categories R and T) and the
 * system columns every table already has.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  // R
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'both', 'case', 'cast',
  'check', 'collate', 'column', 'constraint', 'create', 'current_catalog', 'current_date', 'current_role',
  'current_time', 'current_timestamp', 'current_user', 'default', 'deferrable', 'desc', 'distinct', 'do',
  'else', 'end', 'except', 'false', 'fetch', 'for', 'foreign', 'from', 'grant', 'group', 'having', 'in',
  'initially', 'intersect', 'into', 'lateral', 'leading', 'limit', 'localtime', 'localtimestamp', 'not',
  'null', 'offset', 'on', 'only', 'or', 'order', 'placing', 'primary', 'references', 'returning', 'select',
  'session_user', 'some', 'symmetric', 'system_user', 'table', 'then', 'to', 'trailing', 'true', 'union',
  'unique', 'user', 'using', 'variadic', 'when', 'where', 'window', 'with',
  // T
  'authorization', 'binary', 'collation', 'concurrently', 'cross', 'current_schema', 'freeze', 'full',
  'ilike', 'inner', 'is', 'isnull', 'join', 'left', 'like', 'natural', 'notnull', 'outer', 'overlaps',
  'right', 'similar', 'tablesample', 'verbose',
  // system columns
  'tableoid', 'xmin', 'cmin', 'xmax', 'cmax', 'ctid', 'oid',
]); // prettier-ignore

/** The two columns every mirror table starts with. */
export const FIXED_COLUMNS = ['id', 'created_time'] as const;

/**
 * `snake_case` of an Airtable name: camelCase and word breaks become `_`, accents on Latin letters
 * are dropped, other scripts' letters are kept, everything else (quotes, emoji, punctuation)
 * separates words. May return '' (e.g. a name made only of emoji); a leading digit gets a `_`
 * so the name stays usable unquoted.
 */
export function snakeCase(name: string): string {
  const s = name
    .normalize('NFD')
    .replace(/(?<=\p{Script=Latin})\p{M}+/gu, '')
    .normalize('NFC')
    .replace(/(\p{Ll}|\p{N})(\p{Lu})/gu, '$1_$2')
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, '$1_$2')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '');
  return /^\p{N}/u.test(s) ? `_${s}` : s;
}

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

/** First `maxBytes` bytes of `s`, cut on a character boundary. */
function truncateBytes(s: string, maxBytes: number): string {
  let out = '';
  let used = 0;
  for (const ch of s) {
    const b = byteLength(ch);
    if (used + b > maxBytes) break;
    out += ch;
    used += b;
  }
  return out;
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/**
 * `base + suffix`, fitted into 63 bytes: a base too long is cut and tagged with a hash of the
 * whole base, so two long names that share a prefix still differ, and the same name always
 * gives the same result.
 */
export function fitIdentifier(base: string, suffix = ''): string {
  if (byteLength(base) + byteLength(suffix) <= MAX_IDENTIFIER_BYTES) return base + suffix;
  const tag = `_${shortHash(base)}`;
  const room = MAX_IDENTIFIER_BYTES - byteLength(suffix) - byteLength(tag);
  const head = truncateBytes(base, room).replace(/_+$/, '');
  return head + tag + suffix;
}

export interface NameRequest {
  /** Stable identity (table id or field id). */
  key: string;
  /** The Airtable name. */
  name: string;
}

/** The name `name` asks for before any suffix: `snake_case(name)`, or `fallback` when that is empty. */
export function baseName(name: string, fallback: string): string {
  return snakeCase(name) || fallback;
}

/** Whether `current` is a name `assignNames` could give an item called `name` (with any suffix). */
export function followsName(current: string, name: string, fallback: string): boolean {
  const base = baseName(name, fallback);
  if (current === fitIdentifier(base)) return true;
  const n = /_(\d+)$/.exec(current)?.[1];
  return n !== undefined && Number(n) >= 2 && current === fitIdentifier(base, `_${n}`);
}

/**
 * Distinct, safe names for `items` (names follow Airtable, docs/schema-changes.md). An item keeps
 * its `previous` name while that still derives from its Airtable name (same `snake_case`, with
 * the suffix it had), so adding or renaming one item never reshuffles the others. An item whose
 * Airtable name changed, or a new one, gets `snake_case(name)` (or `fallback`), with `_2`, `_3`, …
 * when the name is taken or reserved — taken only by the names kept, so a name an item moved
 * away from is free for a new item.
 */
export function assignNames(
  items: readonly NameRequest[],
  opts: { previous?: ReadonlyMap<string, string>; reserved?: ReadonlySet<string>; fallback: string },
): Map<string, string> {
  const taken = new Set<string>(opts.reserved ?? []);
  for (const r of RESERVED_NAMES) taken.add(r);
  const out = new Map<string, string>();
  const kept = new Set<string>();
  for (const item of items) {
    const prev = opts.previous?.get(item.key);
    if (
      prev !== undefined &&
      !out.has(item.key) &&
      !kept.has(prev) &&
      followsName(prev, item.name, opts.fallback)
    ) {
      kept.add(prev);
      out.set(item.key, prev);
      taken.add(prev);
    }
  }
  for (const item of items) {
    if (out.has(item.key)) continue;
    const base = baseName(item.name, opts.fallback);
    let candidate = fitIdentifier(base);
    for (let n = 2; taken.has(candidate); n++) candidate = fitIdentifier(base, `_${n}`);
    out.set(item.key, candidate);
    taken.add(candidate);
  }
  return out;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * An Airtable name (or any text of a field's definition) as Postgres can store it: text, jsonb and
 * comments refuse NUL, and a lone UTF-16 surrogate is not UTF-8; both become U+FFFD.
 */
export function scrubText(s: string): string {
  return s.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
}

/** `scrubText` on every string (keys included) of a JSON value, e.g. a field's definition. */
export function scrubJson<T>(value: T): T {
  if (typeof value === 'string') return scrubText(value) as T;
  if (Array.isArray(value)) return value.map((v) => scrubJson(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, scrubText(k), { value: scrubJson(v), enumerable: true, writable: true });
    }
    return out as T;
  }
  return value;
}

/** The schema a rebuild fills before promoting it: `<schema>_swap`, fitted into 63 bytes. */
export function swapSchemaName(schema: string): string {
  return fitIdentifier(schema, '_swap');
}
