import { createRng, makeId } from '../ids.ts';
import type { StoredBase } from '../store/base.ts';
import { StoredTable } from '../store/table.ts';
import { DEMO_BASE_ID } from './demo.ts';

/** The `empty` seed: the demo base id with one table "Table 1" (Name, Notes) and no records. */
export function buildEmptyBase(): { base: StoredBase } {
  const rng = createRng(0xe11e);
  const table = new StoredTable(makeId('tbl', rng), 'Table 1', {
    fields: [
      { id: makeId('fld', rng), name: 'Name', type: 'singleLineText' },
      { id: makeId('fld', rng), name: 'Notes', type: 'multilineText' },
    ],
    views: [{ id: makeId('viw', rng), name: 'Grid view', type: 'grid' }],
  });
  const base: StoredBase = {
    id: DEMO_BASE_ID,
    name: 'Empty Base',
    permissionLevel: 'create',
    tables: [table],
    collaborators: [{ id: makeId('usr', rng), email: 'owner@example.com', name: 'Base Owner' }],
  };
  return { base };
}
