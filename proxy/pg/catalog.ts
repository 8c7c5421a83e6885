import { isPaused } from '../../src/bookkeeping/schema-state.ts';
import { listSources } from '../../src/bookkeeping/sources.ts';
import { listTables } from '../../src/bookkeeping/tables.ts';
import type { Queryable } from '../../src/db/database.ts';
import { loadMapping } from '../../src/mirror/store.ts';
import type { BaseMapping, TableMapping } from '../../src/mirror/types.ts';

/** A mirror table the endpoint passes writes for: its base, source and column mapping. */
export interface MirrorTarget {
  sourceId: string;
  baseId: string;
  table: TableMapping;
  /** The table is paused (written by nothing): the endpoint refuses writes to it. */
  paused: boolean;
  /** Its `airmirror.tables` id: the API's schema id, named in the paused refusal's hint. */
  schemaId?: string;
}

export interface CatalogSnapshot {
  /** `schema\0table` → target. */
  byQualified: Map<string, MirrorTarget>;
  /** Table name → the targets of that name (in any schema). */
  byName: Map<string, MirrorTarget[]>;
  /** Changes whenever a mapping changes (parameter types cached per statement go with it). */
  version: string;
}

const key = (schema: string, table: string) => `${schema}\0${table}`;

/**
 * The mirror tables, from the mappings the syncer saved (airmirror.sources/tables/columns).
 * Reloaded at most every `ttlMs` (a rebuild changes tables rarely); mappings are kept per schema
 * hash, so a reload that finds nothing changed costs two queries (sources, and tables: which are
 * paused — the same window the HTTP proxy's writer caches that for).
 */
export class MirrorCatalog {
  private snap: CatalogSnapshot = { byQualified: new Map(), byName: new Map(), version: '' };
  private at = -Infinity;
  private loading: Promise<CatalogSnapshot> | undefined;
  private readonly mappings = new Map<string, BaseMapping>();

  constructor(
    private readonly db: Queryable,
    private readonly ttlMs = 1_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A snapshot no older than the TTL. */
  current(): Promise<CatalogSnapshot> {
    return this.fresh(this.ttlMs);
  }

  /**
   * A snapshot no older than `maxAgeMs`: for a write whose table the current snapshot does not
   * know. A table built since the last load (a first sync that just finished) must not be taken
   * for an ordinary table, or the write would pass through and meet the direct-write guard.
   */
  fresh(maxAgeMs: number): Promise<CatalogSnapshot> {
    if (this.now() - this.at <= maxAgeMs) return Promise.resolve(this.snap);
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Forget the snapshot (a write found the layout changed). */
  invalidate(): void {
    this.at = -Infinity;
  }

  lookup(snap: CatalogSnapshot, schema: string, table: string): MirrorTarget | undefined {
    return snap.byQualified.get(key(schema, table));
  }

  private async load(): Promise<CatalogSnapshot> {
    const [sources, tables] = await Promise.all([listSources(this.db), listTables(this.db)]);
    const config = new Map(tables.map((t) => [`${t.sourceId}\0${t.tableId}`, t]));
    const byQualified = new Map<string, MirrorTarget>();
    const byName = new Map<string, MirrorTarget[]>();
    const versions: string[] = [];
    for (const s of sources) {
      if (!s.schemaHash) continue;
      let m = this.mappings.get(s.id);
      if (!m || m.hash !== s.schemaHash) {
        m = await loadMapping(this.db, s.id);
        if (!m) continue;
        this.mappings.set(s.id, m);
      }
      versions.push(`${s.id}:${m.hash}`);
      for (const table of m.tables) {
        const row = config.get(`${s.id}\0${table.tableId}`);
        const t: MirrorTarget = {
          sourceId: s.id,
          baseId: s.baseId,
          table,
          paused: row !== undefined && isPaused(row),
          schemaId: row?.id,
        };
        byQualified.set(key(table.schema, table.table), t);
        const list = byName.get(table.table) ?? [];
        list.push(t);
        byName.set(table.table, list);
      }
    }
    this.snap = { byQualified, byName, version: versions.join(',') };
    this.at = this.now();
    return this.snap;
  }
}
