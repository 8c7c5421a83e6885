import { createHash } from 'node:crypto';
import type { BaseSchema } from '../airtable/types.ts';
import { pgTypeFor } from './pg-types.ts';
import type { TableMapping } from './types.ts';

const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * sha-256 (hex) of what shapes the mirror: table ids and names, field ids, names, types and the
 * Postgres type they map to (which carries the result type of formulas and rollups). Order of
 * tables and fields, descriptions, views and other options do not count, so a reordered or
 * re-described base does not trigger a rebuild.
 */
export function schemaHash(baseSchema: BaseSchema): string {
  const canonical = [...baseSchema.tables]
    .sort(byId)
    .map((t) => [t.id, t.name, [...t.fields].sort(byId).map((f) => [f.id, f.name, f.type, pgTypeFor(f)])]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/**
 * sha-256 (hex) of a mirror layout: per table its id, Airtable name and mirror name, and per
 * column the field's id, name, column, Airtable and Postgres type; what is excluded, and the
 * changes a paused table defers. Equal hashes mean the schema step has nothing to change (order
 * of tables and fields aside).
 */
export function mappingHash(
  tables: readonly TableMapping[],
  excludedTables: readonly { tableId: string }[] = [],
): string {
  const canonical = [...tables]
    .sort((a, b) => (a.tableId < b.tableId ? -1 : a.tableId > b.tableId ? 1 : 0))
    .map((t) => [
      t.tableId,
      t.tableName,
      t.table,
      [...t.columns]
        .sort((a, b) => (a.fieldId < b.fieldId ? -1 : a.fieldId > b.fieldId ? 1 : 0))
        .map((c) => [c.fieldId, c.fieldName, c.column, c.airtableType, c.pgType]),
      (t.excludedFields ?? []).map((f) => f.fieldId).sort(),
      // A change a paused table defers is part of its layout (recorded, with its warning, once);
      // only then, so that every other layout keeps the hash it had.
      ...(t.deferred && t.deferred.length > 0 ? [[...t.deferred].sort()] : []),
    ]);
  const excluded = excludedTables.map((t) => t.tableId).sort();
  return createHash('sha256')
    .update(JSON.stringify(['v2', canonical, excluded]))
    .digest('hex');
}
