import type { BaseSchema } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { createMirrorTables } from '../../src/mirror/ddl.ts';
import { buildBaseMapping } from '../../src/mirror/mapping.ts';
import { saveMapping } from '../../src/mirror/store.ts';
import type { BaseMapping } from '../../src/mirror/types.ts';

export const BASE_ID = 'appProxyTest00001';

/** A small base in the shape of the docs examples in docs/airtable-reference.md (§6: Name/Address/Visited). */
export const PLACES_SCHEMA: BaseSchema = {
  tables: [
    {
      id: 'tblPlaces00000001',
      name: 'Places',
      primaryFieldId: 'fldName0000000001',
      fields: [
        { id: 'fldName0000000001', name: 'Name', type: 'singleLineText' },
        { id: 'fldAddress0000001', name: 'Address', type: 'singleLineText' },
        {
          id: 'fldVisited0000001',
          name: 'Visited',
          type: 'checkbox',
          options: { icon: 'check', color: 'greenBright' },
        },
        { id: 'fldRating00000001', name: 'Rating', type: 'number', options: { precision: 0 } },
      ],
      views: [{ id: 'viwGrid0000000001', name: 'Grid view', type: 'grid' }],
    },
  ],
};

/**
 * Registers a source for `baseId` and builds its mirror tables from `schema`, as the syncer
 * does before its first sweep (sources row, DDL, saved mapping).
 */
export async function mirrorBase(
  db: Database,
  opts: { baseId: string; schema: BaseSchema; pgSchema?: string; sourceId?: string },
): Promise<{ sourceId: string; mapping: BaseMapping }> {
  const sourceId = opts.sourceId ?? `src_${opts.baseId}`;
  const pgSchema = opts.pgSchema ?? 'public';
  await db.query(
    sql(
      `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO NOTHING`,
      [sourceId, opts.baseId, pgSchema],
    ),
  );
  const mapping = buildBaseMapping(pgSchema, opts.schema);
  await db.tx(async (tx) => {
    await createMirrorTables(tx, mapping);
    await saveMapping(tx, sourceId, mapping);
  });
  return { sourceId, mapping };
}
