/**
 * The emulator's formula language (filterByFormula and formula fields): tokenizer →
 * recursive-descent parser → closures. Compile once per request, evaluate per record.
 *
 * Result values are REST-shaped (docs/airtable-reference.md §2.4, §3.3): strings, numbers, booleans, arrays,
 * ISO strings for dates, null for BLANK(), `{error: '#ERROR!'}` for ERROR() and runtime errors,
 * `{specialValue: 'NaN'}` for NaN. Assumption (docs/airtable-reference.md only names NaN): x/0 gives
 * `{specialValue: 'Infinity'}` (`'-Infinity'` for a negative x).
 */
import type { FormulaContext } from './context.ts';
import { FormulaRuntimeError } from './errors.ts';
import { compileNode } from './evaluate.ts';
import { FUNCTIONS } from './functions.ts';
import { parseFormula } from './parser.ts';
import { toResult } from './values.ts';

export { FormulaError } from './errors.ts';
export type { FormulaContext } from './context.ts';

export interface FieldResolver {
  (nameOrId: string): { id: string; name: string; type: string } | undefined;
}

export interface CompiledFormula {
  evaluate(ctx: FormulaContext): unknown;
  /** Field ids the formula reads (including LAST_MODIFIED_TIME arguments), each once. */
  referencedFieldIds: string[];
}

/** Throws FormulaError on bad syntax, unknown fields (`Unknown field names: a, b`), unknown functions, arity. */
export function compileFormula(text: string, resolve: FieldResolver): CompiledFormula {
  const { root, fieldIds } = parseFormula(text, {
    resolve,
    arity: (name) => {
      const def = FUNCTIONS[name];
      return def && { min: def.min, max: def.max };
    },
  });
  const run = compileNode(root);
  return {
    referencedFieldIds: fieldIds,
    evaluate(ctx) {
      try {
        return toResult(run(ctx));
      } catch (err) {
        if (err instanceof FormulaRuntimeError) return { error: '#ERROR!' };
        throw err;
      }
    },
  };
}

/**
 * filterByFormula truthiness (docs/airtable-reference.md §1.1): a record is kept unless the result is 0,
 * false, "", NaN, [] or an error. Blank (null/undefined) is dropped too, being "" in Airtable.
 */
export function isTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (typeof value === 'number') return !Number.isNaN(value);
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') {
    const o = value as { error?: unknown; specialValue?: unknown };
    if (o.error !== undefined) return false;
    if (o.specialValue === 'NaN') return false;
  }
  return true;
}
