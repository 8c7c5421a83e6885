import { FormulaRuntimeError } from './errors.ts';
import { parseDateValue } from './dates.ts';

/**
 * Values inside the evaluator. `null` is BLANK(). Dates are Date objects (always UTC) and become
 * ISO strings only in the final result. Booleans stay booleans (Airtable: TRUE() "is represented
 * numerically by a 1", so they take part in arithmetic as 1/0). A CellError is an error value
 * *inside an array* (a lookup of an errored cell, docs/airtable-reference.md §2.4); scalar errors are thrown.
 */
export type Value = number | string | boolean | null | Date | CellError | Value[];

export class CellError {
  readonly error = '#ERROR!';
}

export function isBlank(v: Value): boolean {
  return v === null || v === '' || (Array.isArray(v) && v.length === 0);
}

/** Text form used by `&`, CONCATENATE and text functions. Arrays join with ", " like Airtable's lists. */
export function toText(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Object.is(v, -0) ? '0' : String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new FormulaRuntimeError('Invalid date');
    return v.toISOString();
  }
  if (v instanceof CellError) throw new FormulaRuntimeError();
  return v.map(toText).join(', ');
}

/**
 * Numeric form for arithmetic: blank and "" are 0, booleans 1/0, numeric strings their number, and
 * anything else NaN (which surfaces as `{specialValue: "NaN"}`, docs/airtable-reference.md §2.4).
 */
export function toNumber(v: Value): number {
  if (v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return v.trim() === '' ? 0 : Number(v.trim());
  if (v instanceof Date) return NaN;
  if (v instanceof CellError) throw new FormulaRuntimeError();
  if (v.length === 0) return 0;
  if (v.length === 1) return toNumber(v[0]);
  return NaN;
}

/** Truthiness inside the evaluator, mirroring `isTruthy` on results (docs/airtable-reference.md §1.1). */
export function truthy(v: Value): boolean {
  if (v === null) return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'string') return v !== '';
  if (typeof v === 'boolean') return v;
  if (v instanceof Date) return true;
  if (v instanceof CellError) throw new FormulaRuntimeError();
  return v.length > 0;
}

export function flatten(values: Value[]): Value[] {
  const out: Value[] = [];
  for (const v of values) {
    if (Array.isArray(v)) out.push(...flatten(v));
    else out.push(v);
  }
  return out;
}

type Scalar = number | string | boolean | null | Date;

function scalar(v: Value): Scalar {
  if (v instanceof CellError) throw new FormulaRuntimeError();
  return Array.isArray(v) ? toText(v) : v;
}

const NUMERIC = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/**
 * Airtable-like comparison (choices documented because docs/airtable-reference.md does not spell them out):
 * - a date against a date, or against a string that parses as a date, compares instants;
 * - blank equals "" and 0 (and FALSE()); blank against a date is unordered;
 * - a number/boolean against a numeric string compares numerically, against other text as text;
 * - text compares case-sensitively by code unit.
 * Returns <0, 0, >0, or NaN when the operands are unordered (every comparison is then false).
 */
export function compareValues(a: Value, b: Value): number {
  let x = scalar(a);
  let y = scalar(b);
  if (x instanceof Date || y instanceof Date) {
    if (x === null || y === null) return x === y ? 0 : NaN;
    const dx = x instanceof Date ? x : tryDate(x);
    const dy = y instanceof Date ? y : tryDate(y);
    if (!dx || !dy) return NaN;
    return dx.getTime() - dy.getTime();
  }
  if (typeof x === 'boolean') x = x ? 1 : 0;
  if (typeof y === 'boolean') y = y ? 1 : 0;
  if (x === null) x = typeof y === 'string' ? '' : 0;
  if (y === null) y = typeof x === 'string' ? '' : 0;
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'number' && typeof y === 'string') {
    if (y.trim() === '') return x;
    if (NUMERIC.test(y)) return x - Number(y);
    return textCompare(toText(x), y);
  }
  if (typeof x === 'string' && typeof y === 'number') return -compareValues(y, x);
  return textCompare(x as string, y as string);
}

function textCompare(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

function tryDate(v: number | string | boolean): Date | null {
  if (typeof v !== 'string') return null;
  try {
    return parseDateValue(v);
  } catch {
    return null;
  }
}

function collaboratorName(c: unknown): Value {
  if (c && typeof c === 'object') {
    const o = c as { name?: string; email?: string; id?: string };
    return o.name ?? o.email ?? o.id ?? null;
  }
  return genericCell(c);
}

/** Best-effort conversion of any REST cell value (used for lookups, rollups and unknown types). */
function genericCell(raw: unknown): Value {
  if (raw === undefined || raw === null) return null;
  if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') return raw;
  if (Array.isArray(raw)) return raw.map(genericCell);
  if (typeof raw === 'object') {
    const o = raw as Record<string, unknown>;
    if ('error' in o) return new CellError();
    if (o.specialValue === 'NaN') return NaN;
    if (o.specialValue === 'Infinity') return Infinity;
    if (o.specialValue === '-Infinity') return -Infinity;
    for (const key of ['name', 'filename', 'text', 'label', 'value', 'email', 'id']) {
      if (typeof o[key] === 'string') return o[key] as string;
    }
  }
  return null;
}

const DATE_TYPES = new Set(['date', 'dateTime', 'createdTime', 'lastModifiedTime']);

/**
 * REST cell value (cellFormat=json, docs/airtable-reference.md §3.3) → formula value, per field type:
 * selects by name, multiple selects / links / lookups as arrays (links are record ids: the REST
 * value is all the context has), checkbox true or FALSE when absent, collaborators by name (then
 * email), attachments by filename, barcode by text, button by label, aiText by value, date fields
 * as dates. A formula/rollup cell holding `{error}` makes the referencing formula an error.
 */
export function cellToValue(type: string, raw: unknown): Value {
  if (type === 'checkbox') return raw === true;
  if (raw === undefined || raw === null) return null;
  if (DATE_TYPES.has(type) && typeof raw === 'string') return tryDate(raw) ?? raw;
  switch (type) {
    case 'singleCollaborator':
    case 'createdBy':
    case 'lastModifiedBy':
      return collaboratorName(raw);
    case 'multipleCollaborators':
      return Array.isArray(raw) ? raw.map(collaboratorName) : collaboratorName(raw);
    case 'multipleAttachments':
      return Array.isArray(raw)
        ? raw.map((a) => genericCell((a as { filename?: unknown }).filename ?? a))
        : null;
    case 'aiText':
      return typeof raw === 'object' ? genericCell((raw as { value?: unknown }).value) : genericCell(raw);
    default: {
      const v = genericCell(raw);
      if (v instanceof CellError) throw new FormulaRuntimeError();
      return v;
    }
  }
}

/** The evaluator's value → the REST-shaped result `evaluate` returns. */
export function toResult(v: Value): unknown {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { specialValue: 'NaN' };
    if (v === Infinity) return { specialValue: 'Infinity' };
    if (v === -Infinity) return { specialValue: '-Infinity' };
    return Object.is(v, -0) ? 0 : v;
  }
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? { error: '#ERROR!' } : v.toISOString();
  if (v instanceof CellError) return { error: '#ERROR!' };
  if (Array.isArray(v)) return v.map(toResult);
  return v;
}
