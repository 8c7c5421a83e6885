import type { AirtableRecord } from '../types.ts';
import type { EmulatorClock } from '../clock.ts';
import { airtableError, invalidRequest, modelNotFound, rowDoesNotExist, unknownField } from '../errors.ts';
import { makeId, type Rng } from '../ids.ts';
import { findTable, type StoredBase } from './base.ts';
import { acceptCell } from './cells.ts';
import { isComputedType, sameCell } from './cell-values.ts';
import type { ChangeListener, ChangeSource, StoreChange } from './changes.ts';
import { CellReader, isoOf } from './computed.ts';
import { syncInverse, unlinkEverywhere } from './links.ts';
import type { FormulaEngine } from './formula-engine.ts';
import { ChangeTracker } from './tracker.ts';
import type { StoredTable } from './table.ts';
import type { StoredField, StoredRecord } from './types.ts';

export interface RecordInput {
  id?: string;
  fields: Record<string, unknown>;
}

export interface WriteOptions {
  typecast?: boolean;
  /** Who acted: the public API (default) or the Airtable UI (control surface). */
  source?: ChangeSource;
  /** Acting collaborator id; defaults to the base's first collaborator (the token's user). */
  userId?: string;
}

export interface UpsertResult {
  records: StoredRecord[];
  createdRecords: string[];
  updatedRecords: string[];
}

/**
 * Field types `fieldsToMergeOn` accepts (docs/airtable-reference.md §1.5: number, text, long text,
 * single/multiple select, date).
 */
const MERGE_TYPES = new Set([
  'number',
  'singleLineText',
  'multilineText',
  'email',
  'url',
  'phoneNumber',
  'singleSelect',
  'multipleSelects',
  'date',
]);

type Prepared =
  | { kind: 'create'; cells: Map<string, unknown> }
  | { kind: 'update'; id: string; cells: Map<string, unknown> };

/**
 * The emulator's data: bases, tables, records, and every mutation with its bookkeeping
 * (autoNumber, per-field user edits for lastModifiedTime/By, reciprocal links, the change feed).
 * Writes are validated completely before anything is applied, so a failing batch changes nothing.
 */
export class EmulatorStore {
  readonly bases = new Map<string, StoredBase>();
  readonly reader: CellReader;
  private readonly listeners = new Set<ChangeListener>();

  constructor(
    readonly clock: EmulatorClock,
    readonly rng: Rng,
    readonly formulas?: FormulaEngine,
  ) {
    this.reader = new CellReader(formulas, () => clock.now());
  }

  /** Subscribe to the change feed (see changes.ts); returns an unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  addBase(base: StoredBase): void {
    this.bases.set(base.id, base);
  }

  requireBase(baseId: string): StoredBase {
    const b = this.bases.get(baseId);
    if (!b) throw modelNotFound();
    return b;
  }

  requireTable(baseId: string, tableIdOrName: string): { base: StoredBase; table: StoredTable } {
    const base = this.requireBase(baseId);
    const table = findTable(base, tableIdOrName);
    if (!table) throw modelNotFound();
    return { base, table };
  }

  /** Wraps one user action: tracks changes while someone listens and emits one StoreChange. */
  action<T>(
    base: StoredBase,
    opts: WriteOptions,
    fn: (tracker: ChangeTracker | undefined, userId: string) => T,
  ): T {
    const userId = opts.userId ?? base.collaborators[0]?.id ?? 'usrEmulator000000';
    const tracker =
      this.listeners.size > 0
        ? new ChangeTracker(base, this.reader, opts.source ?? 'publicApi', this.clock.iso(), userId)
        : undefined;
    const result = fn(tracker, userId);
    const change = tracker?.finish();
    if (change) this.emit(change);
    return result;
  }

  emit(change: StoreChange): void {
    for (const l of [...this.listeners]) l(change);
  }

  /** A record as the REST API returns it: empty cells omitted, keyed by name or id. */
  serialize(
    base: StoredBase,
    table: StoredTable,
    rec: StoredRecord,
    opts: { byId?: boolean; fieldIds?: Set<string> } = {},
  ): AirtableRecord {
    const fields: Record<string, unknown> = {};
    for (const f of table.fields) {
      if (opts.fieldIds && !opts.fieldIds.has(f.id)) continue;
      const v = this.reader.value(base, table, rec, f);
      if (v !== undefined) fields[opts.byId ? f.id : f.name] = v;
    }
    return { id: rec.id, createdTime: isoOf(rec.createdTime), fields };
  }

  /** Resolve request-body field keys (names or ids) and validate their values. */
  private prepareCells(
    base: StoredBase,
    table: StoredTable,
    fields: unknown,
    typecast: boolean,
    current?: StoredRecord,
  ): Map<string, unknown> {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw invalidRequest();
    const out = new Map<string, unknown>();
    for (const [key, value] of Object.entries(fields)) {
      const f = table.field(key);
      if (!f) throw unknownField(key);
      out.set(
        f.id,
        acceptCell(f, value, { base, table, typecast, rng: this.rng, current: current?.cells[f.id] }),
      );
    }
    return out;
  }

  private writableFields(table: StoredTable): StoredField[] {
    return table.fields.filter((f) => !isComputedType(f.type));
  }

  /** Apply prepared writes in order; returns the resulting records. */
  private commit(
    base: StoredBase,
    table: StoredTable,
    ops: Prepared[],
    destructive: boolean,
    tracker: ChangeTracker | undefined,
    userId: string,
  ): StoredRecord[] {
    const now = this.clock.now();
    const out: StoredRecord[] = [];
    for (const op of ops) {
      if (op.kind === 'create') {
        const seq = table.takeSeq();
        const rec: StoredRecord = {
          id: this.newRecordId(base),
          createdTime: now,
          seq,
          cells: {},
          createdBy: userId,
        };
        for (const f of table.fields) if (f.type === 'autoNumber') rec.cells[f.id] = seq + 1;
        table.put(rec);
        tracker?.created(table, rec);
        for (const [fid, v] of op.cells) this.setCell(base, table, rec, fid, v, tracker, userId, now, false);
        out.push(rec);
      } else {
        const existing = table.get(op.id);
        if (!existing) throw rowDoesNotExist(op.id);
        tracker?.touch(table, existing);
        // Copy so generated rows become materialized and snapshots keep the old cells object.
        const rec: StoredRecord = {
          ...existing,
          cells: { ...existing.cells },
          edits: existing.edits && { ...existing.edits },
        };
        table.put(rec);
        const cells = new Map(op.cells);
        if (destructive)
          for (const f of this.writableFields(table)) if (!cells.has(f.id)) cells.set(f.id, undefined);
        for (const [fid, v] of cells) this.setCell(base, table, rec, fid, v, tracker, userId, now, true);
        out.push(rec);
      }
    }
    return out;
  }

  /** Set one cell, recording the user edit and keeping reciprocal links in step. */
  private setCell(
    base: StoredBase,
    table: StoredTable,
    rec: StoredRecord,
    fieldId: string,
    value: unknown,
    tracker: ChangeTracker | undefined,
    userId: string,
    now: number,
    recordEdit: boolean,
  ): void {
    const old = rec.cells[fieldId];
    if (sameCell(old, value)) return;
    if (value === undefined) delete rec.cells[fieldId];
    else rec.cells[fieldId] = value;
    if (recordEdit) (rec.edits ??= {})[fieldId] = { at: now, by: userId };
    const f = table.fieldById(fieldId);
    if (f?.type === 'multipleRecordLinks') {
      syncInverse(
        base,
        table,
        rec.id,
        f,
        (old as string[]) ?? [],
        (value as string[]) ?? [],
        tracker,
        userId,
        now,
      );
    }
  }

  newRecordId(base: StoredBase): string {
    for (;;) {
      const id = makeId('rec', this.rng);
      if (!base.tables.some((t) => t.has(id))) return id;
    }
  }

  createRecords(
    baseId: string,
    tableIdOrName: string,
    inputs: RecordInput[],
    opts: WriteOptions = {},
  ): StoredRecord[] {
    const { base, table } = this.requireTable(baseId, tableIdOrName);
    const ops: Prepared[] = inputs.map((r) => ({
      kind: 'create',
      cells: this.prepareCells(base, table, r.fields ?? {}, !!opts.typecast),
    }));
    return this.action(base, opts, (tracker, userId) =>
      this.commit(base, table, ops, false, tracker, userId),
    );
  }

  updateRecords(
    baseId: string,
    tableIdOrName: string,
    inputs: Array<{ id: string; fields: Record<string, unknown> }>,
    opts: WriteOptions & { destructive?: boolean } = {},
  ): StoredRecord[] {
    const { base, table } = this.requireTable(baseId, tableIdOrName);
    const ops: Prepared[] = inputs.map((r) => {
      const current = table.get(r.id);
      if (!current) throw rowDoesNotExist(r.id);
      return {
        kind: 'update',
        id: r.id,
        cells: this.prepareCells(base, table, r.fields ?? {}, !!opts.typecast, current),
      };
    });
    return this.action(base, opts, (tracker, userId) =>
      this.commit(base, table, ops, !!opts.destructive, tracker, userId),
    );
  }

  /** performUpsert (docs/airtable-reference.md §1.5): match id-less records on `fieldsToMergeOn`. */
  upsertRecords(
    baseId: string,
    tableIdOrName: string,
    inputs: RecordInput[],
    fieldsToMergeOn: unknown,
    opts: WriteOptions & { destructive?: boolean } = {},
  ): UpsertResult {
    const { base, table } = this.requireTable(baseId, tableIdOrName);
    if (!Array.isArray(fieldsToMergeOn) || fieldsToMergeOn.length < 1 || fieldsToMergeOn.length > 3) {
      throw invalidRequest('fieldsToMergeOn must be an array of 1 to 3 field names or ids');
    }
    const mergeFields = fieldsToMergeOn.map((k) => {
      const f = typeof k === 'string' ? table.field(k) : undefined;
      if (!f) throw unknownField(String(k));
      if (!MERGE_TYPES.has(f.type)) {
        throw invalidRequest(`Field "${f.name}" of type ${f.type} cannot be used in fieldsToMergeOn`);
      }
      return f;
    });
    const ops: Prepared[] = [];
    const kinds: Array<'created' | 'updated'> = [];
    const keysInRequest = new Set<string>();
    for (const r of inputs) {
      if (r.id !== undefined) {
        const current = typeof r.id === 'string' ? table.get(r.id) : undefined;
        if (!current) throw rowDoesNotExist(String(r.id));
        ops.push({
          kind: 'update',
          id: r.id,
          cells: this.prepareCells(base, table, r.fields ?? {}, !!opts.typecast, current),
        });
        kinds.push('updated');
        continue;
      }
      const cells = this.prepareCells(base, table, r.fields ?? {}, !!opts.typecast);
      for (const f of mergeFields) {
        if (!cells.has(f.id))
          throw invalidRequest(`Record is missing a value for fieldsToMergeOn field "${f.name}"`);
      }
      const key = JSON.stringify(mergeFields.map((f) => cells.get(f.id) ?? null));
      if (keysInRequest.has(key))
        throw invalidRequest('Two records in the request have the same fieldsToMergeOn values');
      keysInRequest.add(key);
      const matches: StoredRecord[] = [];
      for (const rec of table.iterate()) {
        if (mergeFields.every((f) => sameCell(rec.cells[f.id], cells.get(f.id)))) matches.push(rec);
        if (matches.length > 1) {
          throw airtableError(
            422,
            'INVALID_VALUE_FOR_COLUMN',
            `Cannot update more than one record at a time with performUpsert: more than one record matches the fieldsToMergeOn values ${key}`,
          );
        }
      }
      if (matches.length === 1) {
        ops.push({ kind: 'update', id: matches[0].id, cells });
        kinds.push('updated');
      } else {
        ops.push({ kind: 'create', cells });
        kinds.push('created');
      }
    }
    const records = this.action(base, opts, (tracker, userId) =>
      this.commit(base, table, ops, !!opts.destructive, tracker, userId),
    );
    return {
      records,
      createdRecords: records.filter((_, i) => kinds[i] === 'created').map((r) => r.id),
      updatedRecords: records.filter((_, i) => kinds[i] === 'updated').map((r) => r.id),
    };
  }

  deleteRecords(baseId: string, tableIdOrName: string, ids: string[], opts: WriteOptions = {}): string[] {
    const { base, table } = this.requireTable(baseId, tableIdOrName);
    for (const id of ids)
      if (!table.has(id)) throw airtableError(404, 'NOT_FOUND', `Could not find record ${id}`);
    return this.action(base, opts, (tracker, userId) => {
      const now = this.clock.now();
      for (const id of ids) {
        const rec = table.get(id);
        if (!rec) continue;
        tracker?.touch(table, rec);
        // Unlink from reciprocal fields first, as Airtable does when a linked record goes away.
        for (const f of table.fields) {
          if (f.type === 'multipleRecordLinks' && Array.isArray(rec.cells[f.id])) {
            syncInverse(base, table, id, f, rec.cells[f.id] as string[], [], tracker, userId, now);
          }
        }
        unlinkEverywhere(base, table, id, tracker);
        table.delete(id);
        tracker?.destroyed(table, id);
      }
      return ids;
    });
  }
}
