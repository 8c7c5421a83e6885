import type { Node } from './ast.ts';
import { FormulaError } from './errors.ts';
import { tokenize, type Token } from './tokenizer.ts';

export interface ResolvedField {
  id: string;
  name: string;
  type: string;
}

export interface ParseOptions {
  resolve(nameOrId: string): ResolvedField | undefined;
  /** Arity of a known function (upper-case name), or undefined when the function does not exist. */
  arity(name: string): { min: number; max: number } | undefined;
}

// Lowest to highest. Excel-style: comparisons bind loosest, then `&`, then `+ -`, then `* /`.
const LEVELS = [['=', '!=', '<', '>', '<=', '>='], ['&'], ['+', '-'], ['*', '/']];

/**
 * Recursive-descent parser. Unknown field names are collected over the whole formula and
 * reported together (`Unknown field names: a, b`), like Airtable's INVALID_FILTER_BY_FORMULA text.
 */
export function parseFormula(text: string, opts: ParseOptions): { root: Node; fieldIds: string[] } {
  const tokens = tokenize(text);
  let pos = 0;
  const unknown: string[] = [];
  const fieldIds = new Set<string>();
  // fieldRef() returns a placeholder for unknown names so parsing goes on and reports every unknown
  // name at once; the formula is rejected before it could ever be evaluated.
  const placeholders = new WeakSet<Node>();

  const peek = (): Token => tokens[pos];
  const describe = (t: Token): string =>
    t.kind === 'eof' ? 'end of formula' : `'${'value' in t ? t.value : t.kind}' at ${t.pos}`;
  const expect = (kind: Token['kind']): Token => {
    const t = tokens[pos];
    if (t.kind !== kind) throw new FormulaError(`Expected '${kind}' but found ${describe(t)}`);
    pos++;
    return t;
  };

  const fieldRef = (name: string): Node => {
    const f = opts.resolve(name);
    if (!f) {
      if (!unknown.includes(name)) unknown.push(name);
      const placeholder: Node = { kind: 'string', value: '' };
      placeholders.add(placeholder);
      return placeholder;
    }
    fieldIds.add(f.id);
    return { kind: 'field', id: f.id, type: f.type };
  };

  const binary = (level: number): Node => {
    if (level === LEVELS.length) return unary();
    let left = binary(level + 1);
    for (;;) {
      const t = peek();
      if (t.kind !== 'op' || !LEVELS[level].includes(t.value)) return left;
      pos++;
      const right = binary(level + 1);
      left = { kind: 'binary', op: t.value, left, right };
    }
  };

  const unary = (): Node => {
    const t = peek();
    if (t.kind === 'op' && (t.value === '-' || t.value === '+')) {
      pos++;
      return { kind: 'unary', op: t.value, operand: unary() };
    }
    return primary();
  };

  const call = (name: string, at: number): Node => {
    expect('(');
    const args: Node[] = [];
    if (peek().kind !== ')') {
      for (;;) {
        args.push(binary(0));
        if (peek().kind !== ',') break;
        pos++;
      }
    }
    expect(')');
    const upper = name.toUpperCase();
    const arity = opts.arity(upper);
    if (!arity) throw new FormulaError(`Unknown function name: ${name} (at ${at})`);
    if (args.length < arity.min || args.length > arity.max) {
      const want = arity.min === arity.max ? `${arity.min}` : `${arity.min} to ${arity.max}`;
      throw new FormulaError(`${upper}() takes ${want} argument(s), got ${args.length}`);
    }
    if (upper === 'LAST_MODIFIED_TIME' && args.some((a) => a.kind !== 'field' && !placeholders.has(a))) {
      throw new FormulaError('LAST_MODIFIED_TIME() only accepts field references as arguments');
    }
    return { kind: 'call', name: upper, args };
  };

  const primary = (): Node => {
    const t = tokens[pos++];
    switch (t.kind) {
      case 'number':
        return { kind: 'number', value: t.value };
      case 'string':
        return { kind: 'string', value: t.value };
      case 'field':
        return fieldRef(t.value);
      case '(': {
        const inner = binary(0);
        expect(')');
        return inner;
      }
      case 'ident': {
        if (peek().kind === '(') return call(t.value, t.pos);
        // A bare word is a single-word field name; TRUE/FALSE without parentheses are the literals
        // unless a field of that name exists.
        const f = opts.resolve(t.value);
        if (!f && /^(true|false)$/i.test(t.value))
          return { kind: 'call', name: t.value.toUpperCase(), args: [] };
        return fieldRef(t.value);
      }
      default:
        throw new FormulaError(`Unexpected ${describe(t)}`);
    }
  };

  const root = binary(0);
  if (peek().kind !== 'eof') throw new FormulaError(`Unexpected ${describe(peek())}`);
  if (unknown.length) throw new FormulaError(`Unknown field names: ${unknown.join(', ')}`);
  return { root, fieldIds: [...fieldIds] };
}
