/**
 * Which statements of a client's SQL are INSERT, UPDATE or DELETE, and on which relation — read
 * with the real Postgres parser (libpg-query: Postgres' own parser compiled to WebAssembly), never
 * a hand-written one. Texts that cannot contain such a statement are never parsed at all, so
 * reads pass through at the cost of one regular-expression test.
 */
import { loadModule, parseSync } from 'libpg-query';
import { LRUCache } from 'lru-cache';

/** A statement node of the parse tree (libpg-query's JSON form: `{ NodeType: {...} }`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Node = any;

export interface Relation {
  schema?: string;
  name: string;
}

export interface DmlStatement {
  kind: 'insert' | 'update' | 'delete';
  /** The InsertStmt / UpdateStmt / DeleteStmt body. */
  node: Node;
  relation: Relation;
  /** The statement's own text (one statement of a multi-statement query string). */
  text: string;
  /** Highest `$n` the statement uses. */
  paramCount: number;
}

export interface OtherStatement {
  kind: 'other';
  text: string;
}

export type Statement = DmlStatement | OtherStatement;

let loaded: Promise<void> | undefined;

/** Loads the parser's WebAssembly module (once per process); must finish before `classify`. */
export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

const MAY_WRITE = /\b(?:insert|update|delete)\b/i;

/** False when `text` cannot hold an INSERT, UPDATE or DELETE: no need to parse it. */
export function mayWrite(text: string): boolean {
  return MAY_WRITE.test(text);
}

/** Parsed texts (a refused one as `false`): a statement run again is not parsed again. */
const cache = new LRUCache<string, Statement[] | false>({ max: 1000 });

/** The statements of `text`, or null when Postgres' parser refuses it (Postgres will say why). */
export function classify(text: string): Statement[] | null {
  const hit = cache.get(text);
  if (hit !== undefined) return hit || null;
  let out: Statement[] | false;
  try {
    out = split(text);
  } catch {
    out = false;
  }
  cache.set(text, out);
  return out || null;
}

function split(text: string): Statement[] {
  const tree = parseSync(text) as {
    stmts?: Array<{ stmt: Node; stmt_location?: number; stmt_len?: number }>;
  };
  const bytes = Buffer.from(text, 'utf8');
  const stmts = tree.stmts ?? [];
  return stmts.map((s) => {
    const from = s.stmt_location ?? 0;
    const own = (s.stmt_len ?? 0) > 0 ? bytes.subarray(from, from + s.stmt_len!) : bytes.subarray(from);
    const stmtText = stmts.length === 1 ? text : own.toString('utf8').trim();
    const [type] = Object.keys(s.stmt ?? {});
    const node = s.stmt?.[type];
    const kind =
      type === 'InsertStmt'
        ? 'insert'
        : type === 'UpdateStmt'
          ? 'update'
          : type === 'DeleteStmt'
            ? 'delete'
            : null;
    if (!kind || !node?.relation?.relname) return { kind: 'other', text: stmtText };
    return {
      kind,
      node,
      relation: { schema: node.relation.schemaname || undefined, name: node.relation.relname },
      text: stmtText,
      paramCount: maxParam(node),
    };
  });
}

/** The highest `$n` under `node`. */
export function maxParam(node: Node): number {
  let max = 0;
  const walk = (n: Node) => {
    if (Array.isArray(n)) {
      for (const x of n) walk(x);
      return;
    }
    if (n === null || typeof n !== 'object') return;
    if (n.ParamRef && typeof n.ParamRef.number === 'number') max = Math.max(max, n.ParamRef.number);
    for (const v of Object.values(n)) walk(v);
  };
  walk(node);
  return max;
}
