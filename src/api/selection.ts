/**
 * Choosing what is mirrored (issue 13): per table whether it is mirrored at all, and which of its
 * fields are not (`PATCH /api/schemas/{id}` `mirrored`, `excluded_fields`); per source at its
 * creation, which tables (`POST /api/sources` `tables`). Fields and tables are named by Airtable
 * id or name; one the mirror does not know is a 400 naming it. The change is made by the next
 * schema step (an excluded field's column is dropped, a re-included one added and filled).
 */
import type { AirtableTable } from '../airtable/types.ts';
import type { Table, TableChanges } from '../bookkeeping/index.ts';
import { badRequest } from '../errors.ts';
import type { PatchSchemaRequest } from './model.ts';

export interface KnownField {
  fieldId: string;
  fieldName: string;
}

/** The table changes `mirrored` / `excluded_fields` ask for; validated against the known fields. */
export function selectionChanges(
  current: Table,
  body: PatchSchemaRequest,
  fields: readonly KnownField[],
): TableChanges {
  const changes: TableChanges = {};
  if (body.mirrored !== undefined) changes.mirrored = body.mirrored;
  if (body.excluded_fields !== undefined) {
    const ids = new Set<string>();
    for (const ref of body.excluded_fields) {
      const f = fields.find((x) => x.fieldId === ref) ?? fields.find((x) => x.fieldName === ref);
      if (!f) {
        throw badRequest(
          `excluded_fields: table ${current.tableName} has no field "${ref}" (name or id)`,
          'excluded_fields',
        );
      }
      if (f.fieldId === current.incrementalField) {
        throw badRequest(
          `excluded_fields: "${ref}" is the table's incremental field; choose another first`,
          'excluded_fields',
        );
      }
      ids.add(f.fieldId);
    }
    changes.excludedFields = [...ids].sort();
  }
  return changes;
}

/** POST /api/sources `tables`: the ids of the base's tables NOT named (those are excluded). */
export function excludedTableIds(tables: readonly AirtableTable[], named: readonly string[]): string[] {
  const wanted = new Set<string>();
  for (const ref of named) {
    const t = tables.find((x) => x.id === ref) ?? tables.find((x) => x.name === ref);
    if (!t) throw badRequest(`tables: the base has no table "${ref}" (name or id)`, 'tables');
    wanted.add(t.id);
  }
  return tables.filter((t) => !wanted.has(t.id)).map((t) => t.id);
}
