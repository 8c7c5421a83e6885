import type { StoredBase } from './base.ts';
import { isComputedType, isEmptyCell } from './cell-values.ts';
import type { CompiledFormulaLike, FormulaEngine } from './formula-engine.ts';
import type { StoredTable } from './table.ts';
import type { Collaborator, StoredField, StoredRecord } from './types.ts';

const ERROR_CELL = { error: '#ERROR!' } as const;
const MAX_DEPTH = 8;

function isoOrDate(ms: number, result: unknown): string {
  const iso = new Date(ms).toISOString();
  return (result as { type?: string } | null | undefined)?.type === 'date' ? iso.slice(0, 10) : iso;
}

/**
 * Computes cell values on read, so computed fields are always current: formulas, rollups,
 * lookups (flat arrays in link order, reference §3.3), counts, created/lastModified time and
 * by. lastModifiedTime/By follow only *user* edits of the watched fields (reference §5), which
 * the store records per field in `record.edits`; computed fields never record edits.
 */
export class CellReader {
  private readonly compiled = new Map<string, CompiledFormulaLike | Error>();

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

  /** The REST value of one cell, or undefined when empty. */
  value(base: StoredBase, table: StoredTable, rec: StoredRecord, field: StoredField, depth = 0): unknown {
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
        // Averaging nothing is 0/0: Airtable shows NaN as {specialValue: "NaN"} (reference §2.4).
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
    const key = table.id + '\u0000' + text;
    let c = this.compiled.get(key);
    if (c === undefined) {
      try {
        c = this.engine.compileFormula(text, (nameOrId) => {
          const f = table.field(nameOrId);
          return f && { id: f.id, name: f.name, type: f.type };
        });
      } catch (err) {
        c = err as Error;
      }
      this.compiled.set(key, c);
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
    return compiled.evaluate({
      recordId: rec.id,
      createdTime: new Date(rec.createdTime).toISOString(),
      lastModifiedTime: (fieldIds) =>
        new Date(this.lastEdit(table, rec, fieldIds && fieldIds.length ? fieldIds : null).at).toISOString(),
      getCell: (fieldId) => {
        const f = table.fieldById(fieldId);
        return f ? this.value(base, table, rec, f, depth + 1) : undefined;
      },
      now: this.now(),
    });
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

/** A formula's result as a REST cell: NaN/Infinity and errors become cell-level objects (§2.4). */
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
