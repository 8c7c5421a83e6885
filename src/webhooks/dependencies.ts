import type { AirtableField } from '../airtable/types.ts';
import { ALL_FIELDS } from './plan.ts';

/** The slice of a base schema the dependency walk reads (a BaseSchema or the mirror mapping fits). */
export interface SchemaTables {
  tables: ReadonlyArray<{ id: string; fields: readonly AirtableField[] }>;
}

/**
 * Records of `tableId` whose `linkFieldId` links to a changed record must be fetched again,
 * because `computedFieldIds` (lookups, rollups, counts and formulas over them) follow the change.
 */
export interface DependentLink {
  tableId: string;
  linkFieldId: string;
  /** The link's inverse field in the changed table, when the schema says (fetched records carry it). */
  inverseLinkFieldId?: string;
  computedFieldIds: string[];
}

const opt = (f: AirtableField, key: string): unknown =>
  (f.options as Record<string, unknown> | null | undefined)?.[key];
const optList = (f: AirtableField, key: string): string[] => {
  const v = opt(f, key);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};

/**
 * `changed` plus every formula-like field of the same table that reads one of them, transitively
 * (`options.referencedFieldIds`, docs/airtable-reference.md §3.3): those recalculate on the same record.
 */
export function closeOverFormulas(
  fields: readonly AirtableField[],
  changed: ReadonlySet<string>,
): Set<string> {
  const out = new Set(changed);
  if (out.has(ALL_FIELDS)) return out;
  for (let grew = true; grew;) {
    grew = false;
    for (const f of fields) {
      if (out.has(f.id)) continue;
      const refs = optList(f, 'referencedFieldIds');
      if (refs.some((r) => out.has(r))) {
        out.add(f.id);
        grew = true;
      }
    }
  }
  return out;
}

/**
 * The computed fields in other tables that follow `changedFieldIds` of `tableId`, grouped by the
 * link they look through (docs/airtable-reference.md §3.3: lookup/rollup `recordLinkFieldId` + `fieldIdInLinkedTable`,
 * count `recordLinkFieldId`). A lookup or rollup depends on the looked-up field; a count depends on
 * links only, which change together with the inverse link field or when records come and go.
 */
export function dependentLinks(
  schema: SchemaTables,
  tableId: string,
  changedFieldIds: ReadonlySet<string>,
): DependentLink[] {
  const source = schema.tables.find((t) => t.id === tableId);
  const changed = source ? closeOverFormulas(source.fields, changedFieldIds) : new Set(changedFieldIds);
  const all = changed.has(ALL_FIELDS);
  const out: DependentLink[] = [];
  for (const table of schema.tables) {
    const byId = new Map(table.fields.map((f) => [f.id, f]));
    const links = new Map<string, DependentLink>();
    for (const f of table.fields) {
      if (f.type !== 'multipleLookupValues' && f.type !== 'rollup' && f.type !== 'count') continue;
      const linkId = opt(f, 'recordLinkFieldId');
      if (typeof linkId !== 'string') continue;
      const link = byId.get(linkId);
      if (!link || link.type !== 'multipleRecordLinks' || opt(link, 'linkedTableId') !== tableId) continue;
      const inverse = opt(link, 'inverseLinkFieldId');
      const inverseId = typeof inverse === 'string' ? inverse : undefined;
      let follows: boolean;
      if (all) follows = true;
      else if (f.type === 'count') follows = inverseId !== undefined && changed.has(inverseId);
      else {
        const looked = opt(f, 'fieldIdInLinkedTable');
        follows =
          (typeof looked === 'string' && changed.has(looked)) ||
          (inverseId !== undefined && changed.has(inverseId)) ||
          optList(f, 'referencedFieldIds').some((r) => changed.has(r));
      }
      if (!follows) continue;
      let dep = links.get(linkId);
      if (!dep) {
        dep = { tableId: table.id, linkFieldId: linkId, inverseLinkFieldId: inverseId, computedFieldIds: [] };
        links.set(linkId, dep);
      }
      dep.computedFieldIds.push(f.id);
    }
    for (const dep of links.values()) {
      // Formulas of the dependent table over those computed fields recalculate too.
      dep.computedFieldIds = [...closeOverFormulas(table.fields, new Set(dep.computedFieldIds))];
      out.push(dep);
    }
  }
  return out;
}
