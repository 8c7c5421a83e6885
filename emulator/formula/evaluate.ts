import type { Node } from './ast.ts';
import type { FormulaContext } from './context.ts';
import { FormulaRuntimeError } from './errors.ts';
import { parseDateValue } from './dates.ts';
import { FUNCTIONS } from './functions.ts';
import { cellToValue, compareValues, toNumber, toText, type Value } from './values.ts';

export type Compiled = (ctx: FormulaContext) => Value;

const COMPARE: Record<string, (c: number) => boolean> = {
  '=': (c) => c === 0,
  '!=': (c) => c !== 0,
  '<': (c) => c < 0,
  '>': (c) => c > 0,
  '<=': (c) => c <= 0,
  '>=': (c) => c >= 0,
};

const ARITHMETIC: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  // x/0 is ±Infinity and 0/0 NaN, surfacing as special values (see toResult).
  '/': (a, b) => a / b,
};

/**
 * Turns the AST into nested closures once, so evaluating a record is a single walk with no
 * parsing, lookups by name or allocation beyond the values themselves.
 */
export function compileNode(node: Node): Compiled {
  switch (node.kind) {
    case 'number': {
      const v = node.value;
      return () => v;
    }
    case 'string': {
      const v = node.value;
      return () => v;
    }
    case 'field': {
      const { id, type } = node;
      return (ctx) => cellToValue(type, ctx.getCell(id));
    }
    case 'unary': {
      const operand = compileNode(node.operand);
      return node.op === '-' ? (ctx) => -toNumber(operand(ctx)) : (ctx) => toNumber(operand(ctx));
    }
    case 'binary': {
      const left = compileNode(node.left);
      const right = compileNode(node.right);
      if (node.op === '&') return (ctx) => toText(left(ctx)) + toText(right(ctx));
      const cmp = COMPARE[node.op];
      if (cmp) return (ctx) => cmp(compareValues(left(ctx), right(ctx)));
      const arith = ARITHMETIC[node.op];
      return (ctx) => arith(toNumber(left(ctx)), toNumber(right(ctx)));
    }
    case 'call': {
      if (node.name === 'LAST_MODIFIED_TIME') {
        const ids = node.args.flatMap((a) => (a.kind === 'field' ? [a.id] : []));
        return (ctx) => {
          const iso = ctx.lastModifiedTime(ids.length ? ids : undefined);
          return iso ? parseDateValue(iso) : null;
        };
      }
      const def = FUNCTIONS[node.name];
      if (!def) throw new FormulaRuntimeError(`Unknown function ${node.name}`); // parser already checked
      const args = node.args.map(compileNode);
      if ('lazy' in def) {
        const fn = def.lazy;
        return (ctx) =>
          fn(
            args.map((a) => () => a(ctx)),
            ctx,
          );
      }
      const fn = def.strict;
      return (ctx) =>
        fn(
          args.map((a) => a(ctx)),
          ctx,
        );
    }
  }
}
