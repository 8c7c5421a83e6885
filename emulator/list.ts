import type { ListRecordsResponse } from './types.ts';
import type { EmulatorClock } from './clock.ts';
import { airtableError, invalidRequest, unknownField } from './errors.ts';
import { makeId, type Rng } from './ids.ts';
import type { StoredBase } from './store/base.ts';
import type { CompiledFormulaLike } from './store/formula-engine.ts';
import type { EmulatorStore } from './store/store.ts';
import type { StoredTable } from './store/table.ts';
import type { StoredRecord, StoredView } from './store/types.ts';
import { stringCell } from './string-cells.ts';

/** List options, the same for GET (query) and POST listRecords (body) (docs/airtable-reference.md §1.1). */
export interface ListParams {
  pageSize?: number;
  maxRecords?: number;
  offset?: string;
  view?: string;
  fields?: string[];
  filterByFormula?: string;
  sort?: Array<{ field: string; direction?: string }>;
  cellFormat?: string;
  timeZone?: string;
  userLocale?: string;
  returnFieldsByFieldId?: boolean;
  recordMetadata?: string[];
}

interface Iterator {
  baseId: string;
  tableId: string;
  expiresAt: number;
  returned: number;
  /** Sorted listings: the order fixed at the first page. */
  snapshot?: string[];
  /** Position of the next page, by the record id that starts it (seq or snapshot index). */
  positions: Map<string, number>;
}

const OFFSET_RE = /^(itr[A-Za-z0-9]{14})\/(rec[A-Za-z0-9]{14})$/;
const MAX_ITERATORS = 10_000;

/**
 * Record listing with Airtable's paging: at most 100 a page, opaque `itr…/rec…` offsets backed
 * by iterators that expire after `ttlMs` of inactivity (docs/airtable-reference.md §1.1; TTL unconfirmed,
 * docs/airtable-reference.md §7). Unsorted listings walk creation order by sequence number, so a million-row table pages without
 * materialising anything; sorted ones fix their order at the first page.
 */
export class RecordLister {
  private readonly iterators = new Map<string, Iterator>();

  constructor(
    private readonly store: EmulatorStore,
    private readonly clock: EmulatorClock,
    private readonly rng: Rng,
    public ttlMs: number,
  ) {}

  expireAll(): void {
    this.iterators.clear();
  }

  list(base: StoredBase, table: StoredTable, p: ListParams): ListRecordsResponse {
    // One page is built synchronously: linked records' cells can be computed once for it.
    return this.store.reader.memoize(() => this.listNow(base, table, p));
  }

  private listNow(base: StoredBase, table: StoredTable, p: ListParams): ListRecordsResponse {
    const pageSize = p.pageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) {
      throw invalidRequest(`The value of pageSize must be an integer between 1 and 100, got ${p.pageSize}`);
    }
    if (p.maxRecords !== undefined && (!Number.isInteger(p.maxRecords) || p.maxRecords < 0)) {
      throw invalidRequest(`The value of maxRecords is invalid: ${p.maxRecords}`);
    }
    const cellFormat = p.cellFormat ?? 'json';
    if (cellFormat !== 'json' && cellFormat !== 'string')
      throw invalidRequest(`Invalid cellFormat: ${cellFormat}`);
    if (cellFormat === 'string' && (!p.timeZone || !p.userLocale)) {
      throw invalidRequest(
        'The "timeZone" and "userLocale" parameters are required when using "string" as "cellFormat"',
      );
    }
    const fieldIds = p.fields?.length
      ? new Set(
          p.fields.map((k) => {
            const f = table.field(k);
            if (!f) throw unknownField(k);
            return f.id;
          }),
        )
      : undefined;
    const view = p.view === undefined ? undefined : this.resolveView(table, p.view);
    const sort = this.resolveSort(table, p.sort, view);
    const filters = this.compileFilters(table, p.filterByFormula, view);
    const keep = (rec: StoredRecord) =>
      filters.every((f) => this.store.formulas!.isTruthy(this.store.reader.evaluate(base, table, rec, f)));

    let it: Iterator;
    let itrId: string;
    let start: number;
    if (p.offset !== undefined) {
      const m = OFFSET_RE.exec(p.offset);
      if (!m) throw airtableError(422, 'INVALID_OFFSET_VALUE', `The value of offset ${p.offset} is invalid`);
      const found = this.iterators.get(m[1]);
      const pos = found?.positions.get(m[2]);
      if (
        !found ||
        pos === undefined ||
        found.expiresAt <= this.clock.now() ||
        found.tableId !== table.id ||
        found.baseId !== base.id
      ) {
        if (found && found.expiresAt <= this.clock.now()) this.iterators.delete(m[1]);
        throw airtableError(422, 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE');
      }
      it = found;
      itrId = m[1];
      start = pos;
    } else {
      itrId = makeId('itr', this.rng);
      it = { baseId: base.id, tableId: table.id, expiresAt: 0, returned: 0, positions: new Map() };
      if (sort.length) it.snapshot = this.sorted(base, table, sort, keep);
      start = it.snapshot ? 0 : -1;
    }

    const remaining =
      p.maxRecords === undefined || p.maxRecords === 0 ? Infinity : p.maxRecords - it.returned;
    const want = Math.min(pageSize, Math.max(0, remaining));
    const page: StoredRecord[] = [];
    let next: { id: string; pos: number } | undefined;
    if (it.snapshot) {
      let i = start;
      for (; i < it.snapshot.length && (page.length < want || !next); i++) {
        const rec = table.get(it.snapshot[i]);
        if (!rec) continue; // deleted since the listing began
        if (page.length < want) page.push(rec);
        else next = { id: rec.id, pos: i };
      }
    } else {
      for (const rec of table.iterate(start)) {
        if (!keep(rec)) continue;
        if (page.length < want) page.push(rec);
        else {
          next = { id: rec.id, pos: rec.seq - 1 };
          break;
        }
      }
    }
    it.returned += page.length;
    const opts = { byId: !!p.returnFieldsByFieldId, fieldIds };
    const records = page.map((rec) => {
      const out = this.store.serialize(base, table, rec, opts);
      if (cellFormat === 'string') {
        for (const [k, v] of Object.entries(out.fields)) out.fields[k] = stringCell(v);
      }
      if (p.recordMetadata?.includes('commentCount')) out.commentCount = 0;
      return out;
    });
    const res: ListRecordsResponse = { records };
    if (next && page.length < remaining) {
      it.positions.set(next.id, next.pos);
      it.expiresAt = this.clock.now() + this.ttlMs;
      if (!this.iterators.has(itrId)) {
        if (this.iterators.size >= MAX_ITERATORS) this.iterators.delete(this.iterators.keys().next().value!);
        this.iterators.set(itrId, it);
      }
      res.offset = `${itrId}/${next.id}`;
    }
    return res;
  }

  private resolveView(table: StoredTable, nameOrId: string): StoredView {
    const v = table.view(nameOrId);
    // Not in the error catalogue (docs/airtable-reference.md §2.5); Airtable's observed type.
    if (!v) throw airtableError(422, 'VIEW_NAME_NOT_FOUND', `Could not find view ${nameOrId}`);
    return v;
  }

  private resolveSort(
    table: StoredTable,
    sort: ListParams['sort'],
    view: StoredView | undefined,
  ): Array<{ fieldId: string; direction: 'asc' | 'desc' }> {
    if (sort && sort.length) {
      return sort.map((s) => {
        if (typeof s !== 'object' || s === null || typeof s.field !== 'string') throw invalidRequest();
        const f = table.field(s.field);
        if (!f) throw unknownField(s.field);
        const direction = s.direction ?? 'asc';
        if (direction !== 'asc' && direction !== 'desc')
          throw invalidRequest(`Invalid sort direction: ${direction}`);
        return { fieldId: f.id, direction: direction as 'asc' | 'desc' };
      });
    }
    return view?.sort ?? [];
  }

  private compileFilters(
    table: StoredTable,
    formula: string | undefined,
    view: StoredView | undefined,
  ): CompiledFormulaLike[] {
    const out: CompiledFormulaLike[] = [];
    const texts = [view?.filterFormula, formula].filter(
      (t): t is string => t !== undefined && t.trim() !== '',
    );
    for (const text of texts) {
      if (!this.store.formulas)
        throw airtableError(422, 'INVALID_FILTER_BY_FORMULA', 'Formulas are not available');
      try {
        out.push(this.store.reader.compile(table, text));
      } catch (err) {
        if (!this.store.formulas.isFormulaError(err)) throw err;
        throw airtableError(
          422,
          'INVALID_FILTER_BY_FORMULA',
          `The formula for filtering records is invalid: ${(err as Error).message}`,
        );
      }
    }
    return out;
  }

  private sorted(
    base: StoredBase,
    table: StoredTable,
    sort: Array<{ fieldId: string; direction: 'asc' | 'desc' }>,
    keep: (r: StoredRecord) => boolean,
  ): string[] {
    const rows: Array<{ id: string; keys: unknown[] }> = [];
    const fields = sort.map((s) => table.fieldById(s.fieldId)!);
    for (const rec of table.iterate()) {
      if (!keep(rec)) continue;
      rows.push({ id: rec.id, keys: fields.map((f) => this.store.reader.value(base, table, rec, f)) });
    }
    rows.sort((a, b) => {
      for (let i = 0; i < sort.length; i++) {
        const c = compareCells(a.keys[i], b.keys[i]);
        if (c !== 0) return sort[i].direction === 'desc' ? -c : c;
      }
      return 0;
    });
    return rows.map((r) => r.id);
  }
}

/** Empty sorts first ascending; numbers numerically; everything else by its string form. */
function compareCells(a: unknown, b: unknown): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' || typeof b === 'boolean') return Number(!!a) - Number(!!b);
  return stringCell(a).localeCompare(stringCell(b));
}
