import type { StoredTable } from './table.ts';
import type { Collaborator } from './types.ts';

export interface StoredBase {
  id: string;
  name: string;
  permissionLevel: 'none' | 'read' | 'comment' | 'edit' | 'create';
  tables: StoredTable[];
  /** Users who can appear in collaborator cells; the first is the token's own user. */
  collaborators: Collaborator[];
}

export function findTable(base: StoredBase, nameOrId: string): StoredTable | undefined {
  return base.tables.find((t) => t.id === nameOrId) ?? base.tables.find((t) => t.name === nameOrId);
}
