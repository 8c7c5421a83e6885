import type { AirtableField, AirtableTable } from '../types.ts';
import { airtableError, invalidRequest, modelNotFound } from '../errors.ts';
import { makeId } from '../ids.ts';
import { stringCell } from '../string-cells.ts';
import { findTable, type StoredBase } from './base.ts';
import { acceptCell } from './cells.ts';
import { isComputedType } from './cell-values.ts';
import { fieldSchema, tableSchema } from './schema-view.ts';
import type { EmulatorStore, WriteOptions } from './store.ts';
import { StoredTable } from './table.ts';
import type { StoredField, StoredRecord } from './types.ts';

export interface FieldInput {
  name: string;
  type: string;
  description?: string;
  options?: Record<string, unknown> | null;
}

const PRIMARY_TYPES = new Set([
  'singleLineText',
  'multilineText',
  'email',
  'url',
  'phoneNumber',
  'number',
  'currency',
  'percent',
  'date',
  'dateTime',
  'formula',
  'autoNumber',
  'barcode',
  'duration',
]);

/**
 * Schema edits: the meta API's create/update table and field (docs/airtable-reference.md §3.2) and the
 * control surface's destructive ones (delete field/table, change a field's type). Each is one action on the
 * change feed (createdFields, changedFields, destroyedFieldIds, changedMetadata, ...).
 */
export class SchemaOps {
  constructor(private readonly store: EmulatorStore) {}

  private table(baseId: string, tableIdOrName: string) {
    return this.store.requireTable(baseId, tableIdOrName);
  }

  private field(table: StoredTable, nameOrId: string): StoredField {
    const f = table.field(nameOrId);
    if (!f) throw modelNotFound();
    return f;
  }

  private checkName(table: StoredTable | undefined, name: unknown, except?: StoredField): string {
    if (typeof name !== 'string' || name.trim() === '')
      throw invalidRequest('Field name must be a non-empty string');
    if (table?.fields.some((f) => f !== except && f.name.toLowerCase() === name.trim().toLowerCase())) {
      throw airtableError(
        422,
        'DUPLICATE_OR_EMPTY_FIELD_NAME',
        `Field name "${name}" is already used in this table`,
      );
    }
    return name.trim();
  }

  /** Build a new field (and, for links, its inverse in the linked table). */
  private buildField(
    base: StoredBase,
    table: StoredTable | undefined,
    tableId: string,
    input: FieldInput,
  ): { field: StoredField; inverse?: { table: StoredTable; field: StoredField } } {
    if (typeof input !== 'object' || input === null) throw invalidRequest();
    const name = this.checkName(table, input.name);
    if (typeof input.type !== 'string') throw invalidRequest('Field type must be a string');
    const rng = this.store.rng;
    const f: StoredField = { id: makeId('fld', rng), name, type: input.type };
    if (typeof input.description === 'string' && input.description) f.description = input.description;
    const o = { ...(input.options ?? {}) } as Record<string, unknown>;
    switch (input.type) {
      case 'singleSelect':
      case 'multipleSelects':
        o.choices = ((o.choices as Array<{ name: string; color?: string }>) ?? []).map((ch) => ({
          id: makeId('sel', rng),
          ...ch,
        }));
        f.options = o;
        break;
      case 'number':
      case 'percent':
        f.options = { precision: 0, ...o };
        break;
      case 'currency':
        f.options = { precision: 2, symbol: '$', ...o };
        break;
      case 'checkbox':
        f.options = { icon: 'check', color: 'greenBright', ...o };
        break;
      case 'rating':
        f.options = { max: 5, icon: 'star', color: 'yellowBright', ...o };
        break;
      case 'date':
        f.options = { dateFormat: { name: 'iso', format: 'YYYY-MM-DD' }, ...o };
        break;
      case 'dateTime':
        f.options = {
          dateFormat: { name: 'iso', format: 'YYYY-MM-DD' },
          timeFormat: { name: '24hour', format: 'HH:mm' },
          timeZone: 'utc',
          ...o,
        };
        break;
      case 'multipleRecordLinks': {
        const target =
          base.tables.find((t) => t.id === o.linkedTableId) ??
          (o.linkedTableId === tableId ? table : undefined);
        if (!target) throw invalidRequest('options.linkedTableId must be a table of this base');
        f.options = {
          linkedTableId: target.id,
          isReversed: false,
          prefersSingleRecordLink: !!o.prefersSingleRecordLink,
        };
        if (target.id !== tableId && table) {
          let invName = table.name;
          for (let i = 2; target.fields.some((x) => x.name.toLowerCase() === invName.toLowerCase()); i++)
            invName = `${table.name} ${i}`;
          const inv: StoredField = {
            id: makeId('fld', rng),
            name: invName,
            type: 'multipleRecordLinks',
            options: {
              linkedTableId: tableId,
              inverseLinkFieldId: f.id,
              isReversed: false,
              prefersSingleRecordLink: false,
            },
          };
          f.options.inverseLinkFieldId = inv.id;
          return { field: f, inverse: { table: target, field: inv } };
        }
        break;
      }
      case 'formula': {
        if (typeof o.formula !== 'string') throw invalidRequest('options.formula must be a string');
        let refs: string[] = [];
        if (table && this.store.formulas) {
          try {
            refs = this.store.reader.compile(table, o.formula).referencedFieldIds;
          } catch (err) {
            if (this.store.formulas.isFormulaError(err))
              throw invalidRequest(`Invalid formula: ${(err as Error).message}`);
            throw err;
          }
        }
        f.options = {
          formula: o.formula,
          isValid: true,
          referencedFieldIds: refs,
          result: (o.result as Record<string, unknown>) ?? { type: 'number', options: { precision: 0 } },
        };
        break;
      }
      default:
        if (input.options !== undefined) f.options = input.options === null ? null : o;
    }
    return { field: f };
  }

  createField(
    baseId: string,
    tableIdOrName: string,
    input: FieldInput,
    opts: WriteOptions = {},
  ): AirtableField {
    const { base, table } = this.table(baseId, tableIdOrName);
    const { field, inverse } = this.buildField(base, table, table.id, input);
    return this.store.action(base, opts, (tracker) => {
      if (isComputedType(field.type)) tracker?.touchAll(table);
      table.fields.push(field);
      if (inverse) inverse.table.fields.push(inverse.field);
      this.store.reader.invalidate();
      if (tracker) {
        (tracker.table(table.id).createdFields ??= []).push({
          id: field.id,
          name: field.name,
          type: field.type,
        });
        if (inverse)
          (tracker.table(inverse.table.id).createdFields ??= []).push({
            id: inverse.field.id,
            name: inverse.field.name,
            type: inverse.field.type,
          });
      }
      return fieldSchema(field);
    });
  }

  updateField(
    baseId: string,
    tableIdOrName: string,
    fieldIdOrName: string,
    patch: { name?: string; description?: string },
    opts: WriteOptions = {},
  ): AirtableField {
    const { base, table } = this.table(baseId, tableIdOrName);
    const f = this.field(table, fieldIdOrName);
    const name = patch.name === undefined ? f.name : this.checkName(table, patch.name, f);
    return this.store.action(base, opts, (tracker) => {
      const previous = f.name;
      f.name = name;
      if (patch.description !== undefined) {
        if (patch.description) f.description = patch.description;
        else delete f.description;
      }
      this.store.reader.invalidate();
      if (tracker && previous !== name) {
        (tracker.table(table.id).changedFields ??= []).push({
          id: f.id,
          current: { name },
          previous: { name: previous },
        });
      }
      return fieldSchema(f);
    });
  }

  /** Convert a field to another type, keeping the cells that convert (as with typecast). */
  changeFieldType(
    baseId: string,
    tableIdOrName: string,
    fieldIdOrName: string,
    type: string,
    options: Record<string, unknown> | undefined,
    opts: WriteOptions = {},
  ): AirtableField {
    const { base, table } = this.table(baseId, tableIdOrName);
    const f = this.field(table, fieldIdOrName);
    const { field: shape } = this.buildField(base, undefined, table.id, { name: f.name, type, options });
    return this.store.action(base, opts, (tracker) => {
      tracker?.touchAll(table);
      const previous = f.type;
      const converted: StoredRecord[] = [];
      for (const rec of table.iterate()) {
        const old = rec.cells[f.id];
        if (old === undefined) continue;
        let next: unknown;
        if (!isComputedType(type)) {
          try {
            next = acceptCell(
              { ...shape, id: f.id },
              Array.isArray(old) && !/^multiple/.test(type)
                ? stringCell(old)
                : typeof old === 'object' && !/^multiple/.test(type)
                  ? stringCell(old)
                  : old,
              { base, table, typecast: true, rng: this.store.rng, current: old },
            );
          } catch {
            next = undefined;
          }
        }
        const copy: StoredRecord = { ...rec, cells: { ...rec.cells } };
        if (next === undefined) delete copy.cells[f.id];
        else copy.cells[f.id] = next;
        converted.push(copy);
      }
      for (const r of converted) table.put(r);
      f.type = type;
      if (shape.options === undefined) delete f.options;
      else f.options = shape.options;
      this.store.reader.invalidate();
      if (tracker)
        (tracker.table(table.id).changedFields ??= []).push({
          id: f.id,
          current: { type },
          previous: { type: previous },
        });
      return fieldSchema(f);
    });
  }

  deleteField(baseId: string, tableIdOrName: string, fieldIdOrName: string, opts: WriteOptions = {}): void {
    const { base, table } = this.table(baseId, tableIdOrName);
    const f = this.field(table, fieldIdOrName);
    if (f.id === table.primaryFieldId) throw invalidRequest('The primary field of a table cannot be deleted');
    this.store.action(base, opts, (tracker) => {
      table.fields.splice(table.fields.indexOf(f), 1);
      // The inverse side of a link stays, as a one-way link (cells left in records are ignored).
      const inverse =
        f.type === 'multipleRecordLinks' ? (f.options?.inverseLinkFieldId as string | undefined) : undefined;
      if (inverse) {
        const other = base.tables.find((t) => t.id === f.options?.linkedTableId)?.fieldById(inverse);
        if (other?.options) delete other.options.inverseLinkFieldId;
      }
      this.store.reader.invalidate();
      if (tracker) (tracker.table(table.id).destroyedFieldIds ??= []).push(f.id);
    });
  }

  createTable(
    baseId: string,
    input: { name: string; description?: string; fields: FieldInput[] },
    opts: WriteOptions = {},
  ): AirtableTable {
    const base = this.store.requireBase(baseId);
    if (typeof input?.name !== 'string' || input.name.trim() === '')
      throw invalidRequest('Table name must be a non-empty string');
    if (findTable(base, input.name))
      throw airtableError(
        422,
        'DUPLICATE_TABLE_NAME',
        `Table name "${input.name}" is already used in this base`,
      );
    if (!Array.isArray(input.fields) || input.fields.length === 0)
      throw invalidRequest('A table needs at least one field');
    if (!PRIMARY_TYPES.has(input.fields[0]?.type))
      throw invalidRequest(`Field type ${input.fields[0]?.type} cannot be the primary field`);
    const id = makeId('tbl', this.store.rng);
    const table = new StoredTable(id, input.name.trim(), {
      fields: [],
      views: [{ id: makeId('viw', this.store.rng), name: 'Grid view', type: 'grid' }],
      primaryFieldId: '',
    });
    const inverses: Array<{ table: StoredTable; field: StoredField }> = [];
    for (const fi of input.fields) {
      const { field, inverse } = this.buildField(base, table, id, fi);
      table.fields.push(field);
      if (inverse) inverses.push(inverse);
    }
    table.primaryFieldId = table.fields[0].id;
    if (input.description) table.description = input.description;
    return this.store.action(base, opts, (tracker) => {
      base.tables.push(table);
      for (const inv of inverses) inv.table.fields.push(inv.field);
      this.store.reader.invalidate();
      if (tracker) {
        (tracker.change.createdTables ??= []).push({
          id,
          name: table.name,
          description: table.description ?? null,
          fields: table.fields.map((f) => ({ id: f.id, name: f.name, type: f.type })),
        });
        for (const inv of inverses)
          (tracker.table(inv.table.id).createdFields ??= []).push({
            id: inv.field.id,
            name: inv.field.name,
            type: inv.field.type,
          });
      }
      return tableSchema(table);
    });
  }

  updateTable(
    baseId: string,
    tableIdOrName: string,
    patch: { name?: string; description?: string },
    opts: WriteOptions = {},
  ): AirtableTable {
    const { base, table } = this.table(baseId, tableIdOrName);
    if (patch.name !== undefined) {
      if (typeof patch.name !== 'string' || patch.name.trim() === '')
        throw invalidRequest('Table name must be a non-empty string');
      const clash = findTable(base, patch.name);
      if (clash && clash !== table)
        throw airtableError(
          422,
          'DUPLICATE_TABLE_NAME',
          `Table name "${patch.name}" is already used in this base`,
        );
    }
    return this.store.action(base, opts, (tracker) => {
      const previous = { name: table.name, description: table.description ?? null };
      if (patch.name !== undefined) table.name = patch.name.trim();
      if (patch.description !== undefined) table.description = patch.description || undefined;
      const current = { name: table.name, description: table.description ?? null };
      if (tracker && (current.name !== previous.name || current.description !== previous.description)) {
        tracker.table(table.id).changedMetadata = { current, previous };
      }
      return tableSchema(table);
    });
  }

  deleteTable(baseId: string, tableIdOrName: string, opts: WriteOptions = {}): void {
    const { base, table } = this.table(baseId, tableIdOrName);
    if (base.tables.length === 1) throw invalidRequest('The last table of a base cannot be deleted');
    this.store.action(base, opts, (tracker) => {
      base.tables.splice(base.tables.indexOf(table), 1);
      this.store.reader.invalidate();
      if (tracker) (tracker.change.destroyedTableIds ??= []).push(table.id);
    });
  }
}
