import { createHash } from 'node:crypto';
import type { BaseSchema } from '../airtable/types.ts';
import { pgTypeFor } from './pg-types.ts';

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
