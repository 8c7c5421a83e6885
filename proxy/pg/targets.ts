import type { CatalogSnapshot, MirrorCatalog, MirrorTarget } from './catalog.ts';
import type { DmlStatement, Statement } from './classify.ts';
import { readDataRow } from './protocol.ts';
import type { Relay } from './relay.ts';
import type { OwnStatements } from './statements.ts';
import { quotedName, RESOLVE_NAME_SQL } from './store.ts';

/** How old a snapshot may be when it does not know a written table (one catalog query at most this often). */
const MISS_MAX_AGE_MS = 100;

/** Whether the snapshot has a mirror table `schema.name` (unqualified: of that name in any schema). */
function knows(
  catalog: MirrorCatalog,
  snap: CatalogSnapshot,
  schema: string | undefined,
  name: string,
): boolean {
  return schema ? catalog.lookup(snap, schema, name) !== undefined : snap.byName.has(name);
}

/**
 * Which mirror table a statement writes, if any. A schema-qualified name is looked up in the
 * catalog; an unqualified one that some mirror table bears is resolved by the client's own session
 * (its search_path, its temporary tables: `to_regclass`), and remembered while the session is not
 * in a transaction, until a statement that may change where names lead (`forget`).
 */
export class Targets {
  private readonly names = new Map<string, string | null>();

  constructor(
    private readonly catalog: MirrorCatalog | undefined,
    private readonly own: OwnStatements,
    private readonly relay: Relay,
  ) {}

  forget(): void {
    this.names.clear();
  }

  /**
   * Whether a statement's table could be a mirror table (the catalog has one of that name). A
   * miss asks a snapshot at most MISS_MAX_AGE_MS old, so a table promoted a moment ago is known.
   */
  async couldBeMirror(s: Statement): Promise<boolean> {
    if (s.kind !== 'insert' && s.kind !== 'update' && s.kind !== 'delete') return false;
    if (!this.catalog) return false;
    const { schema, name } = s.relation;
    return knows(this.catalog, await this.snapshotFor(this.catalog, schema, name), schema, name);
  }

  /** The current snapshot, or a fresher one when it does not know `schema.name` (or `name`). */
  private async snapshotFor(
    catalog: MirrorCatalog,
    schema: string | undefined,
    name: string,
  ): Promise<CatalogSnapshot> {
    const snap = await catalog.current();
    return knows(catalog, snap, schema, name) ? snap : catalog.fresh(MISS_MAX_AGE_MS);
  }

  /** The mirror table `stmt` writes (null: none; 'skipped': Postgres is skipping to Sync). */
  async of(stmt: DmlStatement, end: 'flush' | 'sync'): Promise<MirrorTarget | null | 'skipped'> {
    const catalog = this.catalog;
    if (!catalog) return null;
    const { schema, name } = stmt.relation;
    const snap = await this.snapshotFor(catalog, schema, name);
    if (schema) return catalog.lookup(snap, schema, name) ?? null;
    if (!snap.byName.has(name)) return null;
    let resolved = this.names.get(name);
    if (resolved === undefined) {
      const [r] = await this.own.run(
        [
          {
            text: RESOLVE_NAME_SQL,
            paramTypes: [25],
            params: [Buffer.from(quotedName(name))],
            paramFormats: [],
            resultFormats: [],
            keep: true,
          },
        ],
        end,
      );
      if (r.skipped || r.error) return r.skipped ? 'skipped' : null;
      resolved = r.rows.length > 0 ? (readDataRow(r.rows[0])[0]?.toString('utf8') ?? null) : null;
      if (this.relay.status === 0x49) this.names.set(name, resolved);
    }
    return resolved === null ? null : (catalog.lookup(snap, resolved, name) ?? null);
  }
}
