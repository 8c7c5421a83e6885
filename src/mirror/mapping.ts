import type { BaseSchema } from '../airtable/types.ts';
import { assignNames, FIXED_COLUMNS } from './naming.ts';
import { pgTypeFor } from './pg-types.ts';
import { schemaHash } from './schema-hash.ts';
import type { BaseMapping, ColumnMapping, TableMapping } from './types.ts';

/**
 * The mirror layout of a base (pure). One table per Airtable table, one column per field in the
 * base schema's field order. With `previous`, tables and fields that still exist keep their names.
 */
export function buildBaseMapping(
  schemaName: string,
  baseSchema: BaseSchema,
  previous?: BaseMapping,
): BaseMapping {
  const prevTables = new Map((previous?.tables ?? []).map((t) => [t.tableId, t]));
  const tableNames = assignNames(
    baseSchema.tables.map((t) => ({ key: t.id, name: t.name })),
    { previous: new Map([...prevTables].map(([id, t]) => [id, t.table])), fallback: 'untitled_table' },
  );
  const tables: TableMapping[] = baseSchema.tables.map((t) => {
    const prevColumns = new Map((prevTables.get(t.id)?.columns ?? []).map((c) => [c.fieldId, c.column]));
    const names = assignNames(
      t.fields.map((f) => ({ key: f.id, name: f.name })),
      { previous: prevColumns, reserved: new Set(FIXED_COLUMNS), fallback: 'field' },
    );
    const columns: ColumnMapping[] = t.fields.map((f) => ({
      fieldId: f.id,
      fieldName: f.name,
      column: names.get(f.id) as string,
      airtableType: f.type,
      pgType: pgTypeFor(f),
      field: f,
    }));
    return {
      tableId: t.id,
      tableName: t.name,
      schema: schemaName,
      table: tableNames.get(t.id) as string,
      columns,
    };
  });
  return { schema: schemaName, hash: schemaHash(baseSchema), tables };
}
