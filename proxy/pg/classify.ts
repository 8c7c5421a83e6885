/**
 * Which statements of a client's SQL are INSERT, UPDATE or DELETE, and on which relation — read
 * with the real Postgres parser (libpg-query: Postgres' own parser compiled to WebAssembly), never
 * a hand-written one. Texts that cannot contain such a statement are never parsed at all, so
 * reads pass through at the cost of one regular-expression test.
 */
import { loadModule, parseSync } from 'libpg-query';
import { LRUCache } from 'lru-cache';
import { Deparser } from 'pgsql-deparser';

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
  /** For an EXECUTE of a SQL-level prepared write: the EXECUTE as the client wrote it. */
  sourceText?: string;
}

export interface OtherStatement {
  kind: 'other';
  text: string;
}

/** SQL-level `PREPARE name [(types)] AS <insert/update/delete>`. */
export interface PrepareStatement {
  kind: 'prepare';
  text: string;
  name: string;
  /** The prepared write, with its `$n`. */
  dml: DmlStatement;
  /** Declared parameter types (TypeName nodes), by position. */
  argtypes: Node[];
}

/** `EXECUTE name [(args)]`, and `DEALLOCATE [ALL | name]` / `DISCARD ALL`. */
export interface ExecuteStatement {
  kind: 'execute';
  text: string;
  name: string;
  params: Node[];
}

export interface DeallocateStatement {
  kind: 'deallocate';
  text: string;
  /** undefined: all of them. */
  name?: string;
}

export type Statement =
  DmlStatement | OtherStatement | PrepareStatement | ExecuteStatement | DeallocateStatement;

let loaded: Promise<void> | undefined;

/** Loads the parser's WebAssembly module (once per process); must finish before `classify`. */
export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

const MAY_WRITE = /\b(?:insert|update|delete)\b/i;
const MAY_EXECUTE = /\b(?:execute|deallocate|discard)\b/i;

/**
 * False when `text` cannot hold an INSERT, UPDATE or DELETE (nor, when the session has SQL-level
 * prepared writes, an EXECUTE or DEALLOCATE of one): no need to parse it.
 */
export function mayWrite(text: string, sqlPrepared = false): boolean {
  return MAY_WRITE.test(text) || (sqlPrepared && MAY_EXECUTE.test(text));
}

/**
 * The relay's first look at a Query or Parse text: false when it holds none of the words that
 * could make it a write to a mirror table (mayWrite), an EXECUTE/DEALLOCATE of a SQL-level
 * prepared one, or a change of where names lead or of the session's prepared statements
 * (proxy/pg/session.ts). A plain substring test, case-insensitive: comments, quoting and
 * statement boundaries cannot hide a word from it, so such a text is relayed without being
 * decoded further or parsed. Most reads hold none of them.
 */
const WORDS =
  /insert|update|delete|execute|deallocate|discard|search_path|temp|create|drop|alter|reset|role|session_authorization/i;

export function mayMatter(text: string): boolean {
  return WORDS.test(text);
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
    if (type === 'PrepareStmt') {
      const dml = dmlOf(node.query, '');
      if (!dml) return { kind: 'other', text: stmtText };
      dml.text = Deparser.deparse(node.query, { pretty: false });
      return { kind: 'prepare', text: stmtText, name: node.name, dml, argtypes: node.argtypes ?? [] };
    }
    if (type === 'ExecuteStmt')
      return { kind: 'execute', text: stmtText, name: node.name, params: node.params ?? [] };
    if (type === 'DeallocateStmt')
      return { kind: 'deallocate', text: stmtText, name: node.isall ? undefined : node.name };
    if (type === 'DiscardStmt' && node.target !== 'DISCARD_TEMP')
      return { kind: 'deallocate', text: stmtText };
    return dmlOf(s.stmt, stmtText) ?? { kind: 'other', text: stmtText };
  });
}

function dmlOf(stmt: Node, text: string): DmlStatement | undefined {
  const [type] = Object.keys(stmt ?? {});
  const node = stmt?.[type];
  const kind =
    type === 'InsertStmt'
      ? 'insert'
      : type === 'UpdateStmt'
        ? 'update'
        : type === 'DeleteStmt'
          ? 'delete'
          : null;
  if (!kind || !node?.relation?.relname) return undefined;
  return {
    kind,
    node,
    relation: { schema: node.relation.schemaname || undefined, name: node.relation.relname },
    text,
    paramCount: maxParam(node),
  };
}

/**
 * `EXECUTE name(args)` of a SQL-level prepared write as the write itself: each `$n` replaced by
 * its argument (cast to the declared type, when there is one), put back into SQL.
 */
export function bindExecute(prepared: PrepareStatement, params: Node[]): DmlStatement {
  const node = JSON.parse(JSON.stringify(prepared.dml.node)) as Node;
  const swap = (n: Node): Node => {
    if (Array.isArray(n)) return n.map(swap);
    if (n === null || typeof n !== 'object') return n;
    if (n.ParamRef && typeof n.ParamRef.number === 'number') {
      const i = n.ParamRef.number - 1;
      const arg = params[i] ?? { A_Const: { isnull: true } };
      return prepared.argtypes[i] ? { TypeCast: { arg, typeName: prepared.argtypes[i].TypeName } } : arg;
    }
    return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, swap(v)]));
  };
  const bound = swap(node);
  const wrapper = { [`${prepared.dml.kind[0].toUpperCase()}${prepared.dml.kind.slice(1)}Stmt`]: bound };
  return {
    ...prepared.dml,
    node: bound,
    text: Deparser.deparse(wrapper, { pretty: false }),
    paramCount: maxParam(bound),
  };
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
