import type { FormulaContext } from './context.ts';
import {
  addToDate,
  diffDates,
  formatDate,
  parseDateValue,
  parseDateWithFormat,
  parseUnit,
  startOf,
} from './dates.ts';
import { FormulaRuntimeError } from './errors.ts';
import {
  CellError,
  compareValues,
  flatten,
  isBlank,
  toNumber,
  toText,
  truthy,
  type Value,
} from './values.ts';

/** A compiled argument: evaluates that argument for the record in `ctx`. */
export type Arg = (ctx: FormulaContext) => Value;

/**
 * A function is either strict (arguments evaluated first, left to right) or lazy (gets the
 * compiled arguments: IF/SWITCH evaluate only the chosen branch, OR stops at the first truthy
 * argument, ISERROR catches its argument's error). Lazy calls allocate nothing per record.
 */
export type FunctionDef =
  | { min: number; max: number; strict: (args: Value[], ctx: FormulaContext) => Value }
  | { min: number; max: number; lazy: (args: Arg[], ctx: FormulaContext) => Value };

const MANY = Infinity;

function toDate(v: Value): Date | null {
  if (v === null || v === '') return null;
  if (v instanceof Date) return v;
  if (typeof v === 'string') return parseDateValue(v);
  if (Array.isArray(v) && v.length === 1) return toDate(v[0]);
  throw new FormulaRuntimeError('Expected a date');
}

function int(v: Value): number {
  const n = toNumber(v);
  if (Number.isNaN(n)) throw new FormulaRuntimeError('Expected a number');
  return Math.trunc(n);
}

/** Numbers among the (flattened) arguments, for SUM/AVERAGE/MAX/MIN: blanks and text are skipped. */
function numbers(args: Value[]): number[] {
  const out: number[] = [];
  for (const v of flatten(args)) {
    if (v instanceof CellError) throw new FormulaRuntimeError();
    if (typeof v === 'number') out.push(v);
    else if (typeof v === 'boolean') out.push(v ? 1 : 0);
    else if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) out.push(Number(v));
  }
  return out;
}

/** Half away from zero at `digits` decimals, without binary-float surprises (ROUND(1.005, 2) = 1.01). */
function roundWith(mode: (x: number) => number, value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const sign = value < 0 ? -1 : 1;
  const shifted = Number(`${Math.abs(value)}e${digits}`);
  const scaled = Number.isFinite(shifted) ? shifted : Math.abs(value) * 10 ** digits;
  const rounded = mode(Number(scaled.toPrecision(15)));
  const back = Number(`${rounded}e${-digits}`);
  return sign * (Number.isNaN(back) ? rounded / 10 ** digits : back);
}

function index(position: Value, text: string): number {
  const p = int(position);
  if (p < 1) throw new FormulaRuntimeError('Position must be at least 1');
  return Math.min(p - 1, text.length);
}

function count(v: Value): number {
  const n = int(v);
  if (n < 0) throw new FormulaRuntimeError('Count must not be negative');
  return n;
}

const strict = (
  min: number,
  max: number,
  fn: (args: Value[], ctx: FormulaContext) => Value,
): FunctionDef => ({
  min,
  max,
  strict: fn,
});

export const FUNCTIONS: Record<string, FunctionDef> = {
  // --- record and time ---
  RECORD_ID: strict(0, 0, (_a, ctx) => ctx.recordId),
  CREATED_TIME: strict(0, 0, (_a, ctx) => parseDateValue(ctx.createdTime)),
  // Arguments are field references, resolved by the compiler (see evaluate.ts).
  LAST_MODIFIED_TIME: strict(0, MANY, () => null),
  NOW: strict(0, 0, (_a, ctx) => new Date(ctx.now)),
  TODAY: strict(0, 0, (_a, ctx) => startOf(new Date(ctx.now), 'day')),
  // IS_AFTER(d1, d2) is 1 when d1 is later (docs/airtable-reference.md §5). A blank date is never
  // after/before.
  IS_AFTER: strict(2, 2, ([a, b]) => {
    const [x, y] = [toDate(a), toDate(b)];
    return x !== null && y !== null && x.getTime() > y.getTime();
  }),
  IS_BEFORE: strict(2, 2, ([a, b]) => {
    const [x, y] = [toDate(a), toDate(b)];
    return x !== null && y !== null && x.getTime() < y.getTime();
  }),
  IS_SAME: strict(2, 3, ([a, b, unit]) => {
    const [x, y] = [toDate(a), toDate(b)];
    if (x === null || y === null) return x === y;
    const u = unit === undefined || isBlank(unit) ? 'millisecond' : parseUnit(toText(unit));
    return startOf(x, u).getTime() === startOf(y, u).getTime();
  }),
  DATETIME_PARSE: strict(1, 3, ([text, format]) => {
    if (text instanceof Date) return text;
    const s = toText(text);
    if (s.trim() === '') return null;
    return format === undefined || isBlank(format)
      ? parseDateValue(s)
      : parseDateWithFormat(s, toText(format));
  }),
  DATETIME_FORMAT: strict(1, 2, ([date, format]) => {
    const d = toDate(date);
    if (d === null) return null;
    return formatDate(d, format === undefined || isBlank(format) ? undefined : toText(format));
  }),
  DATEADD: strict(3, 3, ([date, n, unit]) => {
    const d = toDate(date);
    if (d === null) return null;
    return addToDate(d, toNumber(n), parseUnit(toText(unit)));
  }),
  // DATETIME_DIFF(d1, d2, unit) = d1 − d2, in seconds unless a unit is given.
  DATETIME_DIFF: strict(2, 3, ([a, b, unit]) => {
    const [x, y] = [toDate(a), toDate(b)];
    if (x === null || y === null) return null;
    return diffDates(x, y, unit === undefined || isBlank(unit) ? 'second' : parseUnit(toText(unit)));
  }),

  // --- logic ---
  TRUE: strict(0, 0, () => true),
  FALSE: strict(0, 0, () => false),
  BLANK: strict(0, 0, () => null),
  AND: strict(1, MANY, (args) => flatten(args).every(truthy)),
  OR: {
    min: 1,
    max: MANY,
    // Lazy so OR(RECORD_ID()='recA', ...) stops at the first match.
    lazy: (args, ctx) => {
      for (const a of args) {
        const v = a(ctx);
        if (Array.isArray(v) ? flatten(v).some(truthy) : truthy(v)) return true;
      }
      return false;
    },
  },
  XOR: strict(1, MANY, (args) => flatten(args).filter(truthy).length % 2 === 1),
  NOT: strict(1, 1, ([v]) => !truthy(v)),
  IF: {
    min: 2,
    max: 3,
    lazy: ([cond, then, otherwise], ctx) =>
      truthy(cond(ctx)) ? then(ctx) : otherwise ? otherwise(ctx) : null,
  },
  SWITCH: {
    min: 2,
    max: MANY,
    lazy: ([expr, ...rest], ctx) => {
      const v = expr(ctx);
      let i = 0;
      for (; i + 1 < rest.length; i += 2) {
        if (compareValues(v, rest[i](ctx)) === 0) return rest[i + 1](ctx);
      }
      return i < rest.length ? rest[i](ctx) : null;
    },
  },
  ERROR: strict(0, 1, () => {
    throw new FormulaRuntimeError();
  }),
  ISERROR: {
    min: 1,
    max: 1,
    lazy: ([v], ctx) => {
      try {
        const value = v(ctx);
        return (
          value instanceof CellError || (Array.isArray(value) && value.some((x) => x instanceof CellError))
        );
      } catch (err) {
        if (err instanceof FormulaRuntimeError) return true;
        throw err;
      }
    },
  },

  // --- text ---
  CONCATENATE: strict(1, MANY, (args) => args.map(toText).join('')),
  LEN: strict(1, 1, ([v]) => toText(v).length),
  LOWER: strict(1, 1, ([v]) => toText(v).toLowerCase()),
  UPPER: strict(1, 1, ([v]) => toText(v).toUpperCase()),
  TRIM: strict(1, 1, ([v]) => toText(v).trim()),
  LEFT: strict(2, 2, ([v, n]) => toText(v).slice(0, count(n))),
  RIGHT: strict(2, 2, ([v, n]) => {
    const s = toText(v);
    const k = count(n);
    return k === 0 ? '' : s.slice(-k);
  }),
  MID: strict(3, 3, ([v, start, n]) => {
    const s = toText(v);
    const from = index(start, s);
    return s.slice(from, from + count(n));
  }),
  // FIND: 1-based position, 0 when absent. SEARCH: same but blank when absent (Airtable formula docs).
  FIND: strict(2, 3, ([needle, hay, start]) => {
    const s = toText(hay);
    return s.indexOf(toText(needle), start === undefined ? 0 : index(start, s)) + 1;
  }),
  SEARCH: strict(2, 3, ([needle, hay, start]) => {
    const s = toText(hay);
    const at = s.indexOf(toText(needle), start === undefined ? 0 : index(start, s));
    return at < 0 ? null : at + 1;
  }),
  // SUBSTITUTE(text, old, new[, n]): all occurrences, or only the n-th.
  SUBSTITUTE: strict(3, 4, ([v, from, to, nth]) => {
    const s = toText(v);
    const [a, b] = [toText(from), toText(to)];
    if (a === '') return s;
    if (nth === undefined) return s.split(a).join(b);
    const want = int(nth);
    let at = -1;
    for (let k = 0; k < want; k++) {
      at = s.indexOf(a, at + 1);
      if (at < 0) return s;
    }
    return s.slice(0, at) + b + s.slice(at + a.length);
  }),
  // REPLACE(text, start, count, replacement), start 1-based.
  REPLACE: strict(4, 4, ([v, start, n, repl]) => {
    const s = toText(v);
    const from = index(start, s);
    return s.slice(0, from) + toText(repl) + s.slice(from + count(n));
  }),
  REPT: strict(2, 2, ([v, n]) => toText(v).repeat(count(n))),
  // VALUE: the number in a text, ignoring currency symbols and thousands separators.
  VALUE: strict(1, 1, ([v]) => {
    if (typeof v === 'number') return v;
    const s = toText(v).replace(/[^0-9eE.+-]/g, '');
    return s === '' ? null : Number(s);
  }),
  T: strict(1, 1, ([v]) => (typeof v === 'string' ? v : Array.isArray(v) ? toText(v) : '')),

  // --- numbers ---
  ROUND: strict(1, 2, ([v, d]) => roundWith(Math.round, toNumber(v), d === undefined ? 0 : int(d))),
  ROUNDUP: strict(1, 2, ([v, d]) => roundWith(Math.ceil, toNumber(v), d === undefined ? 0 : int(d))),
  ROUNDDOWN: strict(1, 2, ([v, d]) => roundWith(Math.floor, toNumber(v), d === undefined ? 0 : int(d))),
  INT: strict(1, 1, ([v]) => Math.floor(toNumber(v))),
  ABS: strict(1, 1, ([v]) => Math.abs(toNumber(v))),
  // CEILING/FLOOR(value, significance=1): nearest multiple of significance above/below.
  CEILING: strict(1, 2, ([v, sig]) => {
    const s = sig === undefined ? 1 : Math.abs(toNumber(sig));
    return s === 0 ? 0 : Math.ceil(toNumber(v) / s) * s;
  }),
  FLOOR: strict(1, 2, ([v, sig]) => {
    const s = sig === undefined ? 1 : Math.abs(toNumber(sig));
    return s === 0 ? 0 : Math.floor(toNumber(v) / s) * s;
  }),
  // MOD: JavaScript remainder (sign of the dividend); MOD(x, 0) is NaN.
  MOD: strict(2, 2, ([a, b]) => toNumber(a) % toNumber(b)),
  POWER: strict(2, 2, ([a, b]) => toNumber(a) ** toNumber(b)),
  SQRT: strict(1, 1, ([v]) => Math.sqrt(toNumber(v))),
  SUM: strict(1, MANY, (args) => numbers(args).reduce((s, n) => s + n, 0)),
  AVERAGE: strict(1, MANY, (args) => {
    const ns = numbers(args);
    return ns.length === 0 ? 0 : ns.reduce((s, n) => s + n, 0) / ns.length;
  }),
  MAX: strict(1, MANY, (args) => {
    const ns = numbers(args);
    return ns.length === 0 ? 0 : Math.max(...ns);
  }),
  MIN: strict(1, MANY, (args) => {
    const ns = numbers(args);
    return ns.length === 0 ? 0 : Math.min(...ns);
  }),
  // COUNT: numeric items; COUNTA: non-empty items; COUNTALL: every item, blanks included.
  COUNT: strict(1, MANY, (args) => flatten(args).filter((v) => typeof v === 'number').length),
  COUNTA: strict(1, MANY, (args) => flatten(args).filter((v) => !isBlank(v)).length),
  COUNTALL: strict(1, MANY, (args) => flatten(args).length),

  // --- arrays ---
  ARRAYJOIN: strict(1, 2, ([arr, sep]) =>
    flatten([arr])
      .map(toText)
      .join(sep === undefined ? ', ' : toText(sep)),
  ),
  ARRAYUNIQUE: strict(1, 1, ([arr]) => {
    const seen = new Set<string>();
    return flatten([arr]).filter((v) => {
      const key = `${typeof v}:${toText(v)}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }),
  ARRAYCOMPACT: strict(1, 1, ([arr]) => flatten([arr]).filter((v) => v !== null && v !== '')),
  ARRAYFLATTEN: strict(1, 1, ([arr]) => flatten([arr])),
};
