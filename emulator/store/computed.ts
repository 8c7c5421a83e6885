import type { StoredBase } from './base.ts';
import { isComputedType, isEmptyCell } from './cell-values.ts';
import type { CompiledFormulaLike, FormulaContextLike, FormulaEngine } from './formula-engine.ts';
import type { StoredTable } from './table.ts';
import type { Collaborator, StoredField, StoredRecord } from './types.ts';

const ERROR_CELL = { error: '#ERROR!' } as const;
const MAX_DEPTH = 8;

let lastMs = NaN;
let lastIso = '';

/**
 * `new Date(ms).toISOString()`, remembering the last one: a record's createdTime, its Created
 * field and an unedited lastModifiedTime are the same instant, so a listing asks three times in a row.
 */
export function isoOf(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

function isoOrDate(ms: number, result: unknown): string {
  const iso = isoOf(ms);
  return (result as { type?: string } | null | undefined)?.type === 'date' ? iso.slice(0, 10) : iso;
}

/**
 * What a formula sees of one record. A class rather than a literal of closures: formulas run per
 * cell of every listed record, and building (and naming) fresh closures each time was a large
 * share of the emulator's listing CPU.
 */
class RecordContext implements FormulaContextLike {
  constructor(
    private readonly reader: CellReader,
    private readonly base: StoredBase,
    private readonly table: StoredTable,
    private readonly rec: StoredRecord,
    private readonly depth: number,
    readonly now: number,
  ) {}

  get recordId(): string {
    return this.rec.id;
  }

  get createdTime(): string {
    return isoOf(this.rec.createdTime);
  }

  lastModifiedTime(fieldIds?: string[]): string | null {
    return isoOf(
      this.reader.lastEdit(this.table, this.rec, fieldIds && fieldIds.length ? fieldIds : null).at,
    );
  }

  getCell(fieldId: string): unknown {
    const f = this.table.fieldById(fieldId);
    return f ? this.reader.value(this.base, this.table, this.rec, f, this.depth + 1) : undefined;
  }
}

/**
 * Computes cell values on read, so computed fields are always current: formulas, rollups,
 * lookups (flat arrays in link order, docs/airtable-reference.md §3.3), counts, created/lastModified time and
 * by. lastModifiedTime/By follow only *user* edits of the watched fields (docs/airtable-reference.md §5),
 * which the store records per field in `record.edits`; computed fields never record edits.
 */
export class CellReader {
  /** Compiled formulas per table id, then per formula text. */
  private readonly compiled = new Map<string, Map<string, CompiledFormulaLike | Error>>();
  /** While `memoize` runs: linked cells (depth > 0) by depth, field id, record id. */
  private memo: Map<string, Map<string, unknown>>[] | undefined;

  constructor(
    private readonly engine: FormulaEngine | undefined,
    private readonly now: () => number,
  ) {}

  /** Forget compiled formulas (after a schema change). */
  invalidate(): void {
    this.compiled.clear();
  }

  collaborator(base: StoredBase, userId: string): Collaborator {
    return base.collaborators.find((c) => c.id === userId) ?? { id: userId, email: '', name: '' };
  }

  /** Editable fields whose user edits a lastModifiedTime/By watching `referenced` counts. */
  private watched(table: StoredTable, referenced: unknown): string[] {
    if (Array.isArray(referenced) && referenced.length > 0) return referenced as string[];
    return table.fields.filter((f) => !isComputedType(f.type)).map((f) => f.id);
  }

  lastEdit(table: StoredTable, rec: StoredRecord, referenced?: unknown): { at: number; by: string } {
    let best = { at: rec.createdTime, by: rec.createdBy };
    if (!rec.edits) return best;
    for (const id of this.watched(table, referenced)) {
      const e = rec.edits[id];
      if (e && e.at >= best.at) best = e;
    }
    return best;
  }

  /**
   * Runs `fn` (synchronous: nothing can change the base meanwhile) remembering the cells of
   * linked records it reads. A page of orders looks up the same few products again and again;
   * their formulas were evaluated once per order. Keyed by depth as well, so the depth cut-off of
   * cyclic references yields exactly what it would without the memo.
   */
  memoize<T>(fn: () => T): T {
    if (this.memo) return fn();
    this.memo = [];
    try {
      return fn();
    } finally {
      this.memo = undefined;
    }
  }

  /** The REST value of one cell, or undefined when empty. */
  value(base: StoredBase, table: StoredTable, rec: StoredRecord, field: StoredField, depth = 0): unknown {
    const memo = depth > 0 ? this.memo : undefined;
    if (memo) {
      const byField = (memo[depth] ??= new Map());
      let byRecord = byField.get(field.id);
      if (!byRecord) byField.set(field.id, (byRecord = new Map()));
      if (byRecord.has(rec.id)) return byRecord.get(rec.id);
      const v = this.raw(base, table, rec, field, depth);
      const out = isEmptyCell(v) ? undefined : v;
      byRecord.set(rec.id, out);
      return out;
    }
    const v = this.raw(base, table, rec, field, depth);
    return isEmptyCell(v) ? undefined : v;
  }

  private raw(
    base: StoredBase,
    table: StoredTable,
    rec: StoredRecord,
    field: StoredField,
    depth: number,
  ): unknown {
    const o = field.options ?? {};
    switch (field.type) {
      case 'createdTime':
        return isoOrDate(rec.createdTime, o.result);
      case 'lastModifiedTime':
        return isoOrDate(this.lastEdit(table, rec, o.referencedFieldIds).at, o.result);
      case 'createdBy':
        return this.collaborator(base, rec.createdBy);
      case 'lastModifiedBy':
        return this.collaborator(base, this.lastEdit(table, rec, o.referencedFieldIds).by);
      case 'count': {
        const links = rec.cells[o.recordLinkFieldId as string];
        return Array.isArray(links) ? links.length : 0;
      }
      case 'multipleLookupValues':
        return depth > MAX_DEPTH ? [ERROR_CELL] : this.lookup(base, table, rec, field, depth);
      case 'rollup':
        return depth > MAX_DEPTH ? ERROR_CELL : this.rollup(base, table, rec, field, depth);
      case 'formula':
        return depth > MAX_DEPTH ? ERROR_CELL : this.formula(base, table, rec, field, depth);
      case 'button': {
        const h = field.hidden ?? {};
        return { label: h.buttonLabel ?? field.name, url: h.buttonUrl ? h.buttonUrl + rec.id : null };
      }
      default:
        return rec.cells[field.id];
    }
  }

  private linkedValues(
    base: StoredBase,
    table: StoredTable,
    rec: StoredRecord,
    field: StoredField,
    depth: number,
  ) {
    const o = field.options ?? {};
    const linkField = table.fieldById(o.recordLinkFieldId as string);
    const links = rec.cells[o.recordLinkFieldId as string];
    if (!linkField || !Array.isArray(links)) return [];
    const target = base.tables.find((t) => t.id === (linkField.options?.linkedTableId as string));
    const targetField = target?.fieldById(o.fieldIdInLinkedTable as string);
    if (!target || !targetField) return [];
    const out: unknown[] = [];
    for (const id of links as string[]) {
      const r = target.get(id);
      if (!r) continue;
      const v = this.value(base, target, r, targetField, depth + 1);
      if (v === undefined) continue;
      if (Array.isArray(v)) out.push(...v);
      else out.push(v);
    }
    return out;
  }

  private lookup(base: StoredBase, table: StoredTable, rec: StoredRecord, field: StoredField, depth: number) {
    return this.linkedValues(base, table, rec, field, depth);
  }

  private rollup(base: StoredBase, table: StoredTable, rec: StoredRecord, field: StoredField, depth: number) {
    const values = this.linkedValues(base, table, rec, field, depth);
    if (values.some((v) => typeof v === 'object' && v !== null && 'error' in v)) return ERROR_CELL;
    const nums = values.map(Number).filter((n) => !Number.isNaN(n));
    switch (field.hidden?.aggregate ?? 'SUM') {
      case 'SUM':
        return nums.reduce((a, b) => a + b, 0);
      case 'MAX':
        return nums.length ? Math.max(...nums) : 0;
      case 'MIN':
        return nums.length ? Math.min(...nums) : 0;
      case 'AVERAGE':
        // Averaging nothing is 0/0: Airtable shows NaN as {specialValue: "NaN"} (docs/airtable-reference.md
        // §2.4).
        return nums.length ? nums.reduce((a, b) => a + b, 0) / nums.length : { specialValue: 'NaN' };
      case 'COUNTALL':
        return values.length;
      case 'ARRAYJOIN':
        return values.map(String).join(', ');
      case 'AND':
        return values.length > 0 && values.every(Boolean);
      case 'OR':
        return values.some(Boolean);
    }
  }

  compile(table: StoredTable, text: string): CompiledFormulaLike {
    if (!this.engine) throw new Error('no formula engine');
    let byText = this.compiled.get(table.id);
    if (!byText) this.compiled.set(table.id, (byText = new Map()));
    let c = byText.get(text);
    if (c === undefined) {
      try {
        c = this.engine.compileFormula(text, (nameOrId) => {
          const f = table.field(nameOrId);
          return f && { id: f.id, name: f.name, type: f.type };
        });
      } catch (err) {
        c = err as Error;
      }
      byText.set(text, c);
    }
    if (c instanceof Error) throw c;
    return c;
  }

  /** Evaluate a compiled formula against one record (also used by filterByFormula). */
  evaluate(
    base: StoredBase,
    table: StoredTable,
    rec: StoredRecord,
    compiled: CompiledFormulaLike,
    depth = 0,
  ): unknown {
    return compiled.evaluate(new RecordContext(this, base, table, rec, depth, this.now()));
  }

  private formula(
    base: StoredBase,
    table: StoredTable,
    rec: StoredRecord,
    field: StoredField,
    depth: number,
  ) {
    const text = (field.options?.formula as string | undefined) ?? '';
    let result: unknown;
    try {
      result = this.evaluate(base, table, rec, this.compile(table, text), depth);
    } catch {
      return ERROR_CELL;
    }
    return normaliseFormulaResult(result);
  }
}

/** A formula's result as a REST cell: NaN/Infinity and errors become cell-level objects (docs/airtable-reference.md §2.4). */
export function normaliseFormulaResult(result: unknown): unknown {
  if (typeof result === 'number') {
    if (Number.isNaN(result)) return { specialValue: 'NaN' };
    if (!Number.isFinite(result)) return { specialValue: result > 0 ? 'Infinity' : '-Infinity' };
    return result;
  }
  if (result instanceof Date) return Number.isNaN(result.getTime()) ? ERROR_CELL : result.toISOString();
  if (result instanceof Error) return ERROR_CELL;
  if (Array.isArray(result)) return result.map(normaliseFormulaResult);
  return result;
}
