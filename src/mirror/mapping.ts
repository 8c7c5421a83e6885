import type { AirtableField, BaseSchema } from '../airtable/types.ts';
import { assignNames, baseName, FIXED_COLUMNS, scrubJson, scrubText, snakeCase } from './naming.ts';
import { isKnownType, pgTypeFor } from './pg-types.ts';
import { retypeHow } from './retype.ts';
import { mappingHash } from './schema-hash.ts';
import type { BaseMapping, ColumnMapping, TableMapping } from './types.ts';

/** What the operator chose (src/bookkeeping TableSelection fits). */
export interface MappingSelection {
  /** Airtable table ids not mirrored at all. */
  excludedTables?: ReadonlySet<string>;
  /** Per table id: field ids never requested nor stored. */
  excludedFields?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Paused tables: a change that needs their values listed again waits until they resume. */
  paused?: ReadonlySet<string>;
}

const TABLE_FALLBACK = 'untitled_table';
const FIELD_FALLBACK = 'field';

/**
 * The mirror layout of a base (pure). One table per mirrored Airtable table, one column per
 * mirrored field, in the base schema's order. Names follow Airtable (naming.ts `assignNames`):
 * with `previous`, a table or field keeps its name while that still derives from its Airtable
 * name, and takes `snake_case` of its new name when it was renamed.
 *
 * Names and definitions are stored as Postgres can hold them (NUL and lone surrogates become
 * U+FFFD); a type airmirror does not know is stored as jsonb. Both leave a warning on the table.
 */
export function buildBaseMapping(
  schemaName: string,
  baseSchema: BaseSchema,
  previous?: BaseMapping,
  selection: MappingSelection = {},
): BaseMapping {
  const prevTables = new Map((previous?.tables ?? []).map((t) => [t.tableId, t]));
  const excludedTables = baseSchema.tables
    .filter((t) => selection.excludedTables?.has(t.id))
    .map((t) => ({ tableId: t.id, tableName: scrubText(t.name) }));
  const mirrored = baseSchema.tables.filter((t) => !selection.excludedTables?.has(t.id));
  const tableNames = assignNames(
    mirrored.map((t) => ({ key: t.id, name: t.name })),
    { previous: new Map([...prevTables].map(([id, t]) => [id, t.table])), fallback: TABLE_FALLBACK },
  );
  const tables: TableMapping[] = mirrored.map((t) => {
    const prev = prevTables.get(t.id);
    const excluded = selection.excludedFields?.get(t.id);
    const fields = t.fields.filter((f) => !excluded?.has(f.id));
    const names = assignNames(
      fields.map((f) => ({ key: f.id, name: f.name })),
      {
        previous: new Map((prev?.columns ?? []).map((c) => [c.fieldId, c.column])),
        reserved: new Set(FIXED_COLUMNS),
        fallback: FIELD_FALLBACK,
      },
    );
    const warnings: string[] = [];
    if (nameNeedsWarning(t.name)) warnings.push(nameWarning('table', t.name, tableNames.get(t.id)!));
    const prevColumns = new Map((prev?.columns ?? []).map((c) => [c.fieldId, c]));
    const deferred: string[] = [];
    const columns: ColumnMapping[] = fields.map((f) => {
      const column = names.get(f.id)!;
      if (nameNeedsWarning(f.name)) warnings.push(nameWarning('field', f.name, column));
      if (!isKnownType(f.type)) {
        warnings.push(
          `field ${JSON.stringify(scrubText(f.name))} (${f.id}) has type ${JSON.stringify(scrubText(f.type))}, ` +
            `unknown to airmirror: column ${column} stores its values as jsonb`,
        );
      }
      const next: ColumnMapping = {
        fieldId: f.id,
        fieldName: scrubText(f.name),
        column,
        airtableType: scrubText(f.type),
        pgType: pgTypeFor(f),
        field: scrubJson(f) as AirtableField,
      };
      const was = prevColumns.get(f.id);
      if (was && selection.paused?.has(t.id) && retypeHow(was, next) === 'refill') {
        // A paused table is written by nothing: its column keeps its type and values until it
        // resumes, and the change is made then.
        deferred.push(
          `field ${JSON.stringify(next.fieldName)} changed from ${was.airtableType} to ${next.airtableType}: ` +
            `column ${column} keeps type ${was.pgType} until the table resumes`,
        );
        return { ...next, airtableType: was.airtableType, pgType: was.pgType, field: was.field };
      }
      return next;
    });
    return {
      tableId: t.id,
      tableName: scrubText(t.name),
      schema: schemaName,
      table: tableNames.get(t.id)!,
      columns,
      ...(excluded && excluded.size > 0
        ? {
            excludedFields: t.fields
              .filter((f) => excluded.has(f.id))
              .map((f) => ({ fieldId: f.id, fieldName: scrubText(f.name) })),
          }
        : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
      ...(deferred.length > 0 ? { deferred } : {}),
    };
  });
  return {
    schema: schemaName,
    hash: mappingHash(tables, excludedTables),
    tables,
    ...(excludedTables.length > 0 ? { excludedTables } : {}),
  };
}

/** A name Postgres cannot keep as it is, or with nothing to make a name from. */
function nameNeedsWarning(name: string): boolean {
  return name !== scrubText(name) || snakeCase(name) === '';
}

function nameWarning(what: 'table' | 'field', name: string, pgName: string): string {
  const shown = JSON.stringify(scrubText(name));
  const why =
    name !== scrubText(name)
      ? 'holds characters Postgres cannot store (kept as U+FFFD)'
      : `has no letter or digit (named after "${baseName(name, what === 'table' ? TABLE_FALLBACK : FIELD_FALLBACK)}")`;
  return `${what} name ${shown} ${why}: ${what === 'table' ? 'table' : 'column'} ${pgName}`;
}

/**
 * The `fields[]` of a table's list requests: its mirrored fields' ids when the operator excluded
 * some (they are then never requested), else undefined — every field, and shorter URLs.
 */
export function requestedFields(table: TableMapping): string[] | undefined {
  return table.excludedFields && table.excludedFields.length > 0
    ? table.columns.map((c) => c.fieldId)
    : undefined;
}
