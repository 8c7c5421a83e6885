import type { CatalogSnapshot, MirrorCatalog, MirrorTarget } from './catalog.ts';
import type { DmlStatement, Statement } from './classify.ts';
import { readDataRow } from './protocol.ts';
import type { Relay } from './relay.ts';
import type { OwnStatements } from './statements.ts';
import { quotedName, RESOLVE_NAME_SQL } from './store.ts';

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

  private async snapshot(): Promise<CatalogSnapshot | undefined> {
    return this.catalog?.current();
  }

  /** Whether a statement's table could be a mirror table (the catalog has one of that name). */
  async couldBeMirror(s: Statement): Promise<boolean> {
    if (s.kind !== 'insert' && s.kind !== 'update' && s.kind !== 'delete') return false;
    const snap = await this.snapshot();
    if (!snap) return false;
    const { schema, name } = s.relation;
    return schema ? this.catalog!.lookup(snap, schema, name) !== undefined : snap.byName.has(name);
  }

  /** The mirror table `stmt` writes (null: none; 'skipped': Postgres is skipping to Sync). */
  async of(stmt: DmlStatement, end: 'flush' | 'sync'): Promise<MirrorTarget | null | 'skipped'> {
    const snap = await this.snapshot();
    if (!snap) return null;
    const catalog = this.catalog!;
    const { schema, name } = stmt.relation;
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
