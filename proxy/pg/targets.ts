import type { CatalogSnapshot, MirrorCatalog, MirrorTarget } from './catalog.ts';
import type { DmlStatement, Statement } from './classify.ts';
import { readDataRow } from './protocol.ts';
import type { Relay } from './relay.ts';
import type { OwnStatements } from './statements.ts';
import { quotedName, RESOLVE_NAME_SQL } from './store.ts';

/** How old a snapshot may be when it does not know a written table (one catalog query at most this often). */
const MISS_MAX_AGE_MS = 100;

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
    const knows = (snap: CatalogSnapshot) =>
      schema ? this.catalog!.lookup(snap, schema, name) !== undefined : snap.byName.has(name);
    return knows(await this.catalog.current()) || knows(await this.catalog.fresh(MISS_MAX_AGE_MS));
  }

  /** The mirror table `stmt` writes (null: none; 'skipped': Postgres is skipping to Sync). */
  async of(stmt: DmlStatement, end: 'flush' | 'sync'): Promise<MirrorTarget | null | 'skipped'> {
    const catalog = this.catalog;
    if (!catalog) return null;
    const { schema, name } = stmt.relation;
    let snap = await catalog.current();
    const knows = (s: CatalogSnapshot) =>
      schema ? catalog.lookup(s, schema, name) !== undefined : s.byName.has(name);
    if (!knows(snap)) snap = await catalog.fresh(MISS_MAX_AGE_MS);
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
