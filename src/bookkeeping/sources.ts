import type { BaseConfig, Config } from '../config.ts';
import type { SourcesRow } from './rows.ts';
import type { Database, Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import { conflict } from '../errors.ts';

/** The syncer's view of an `airmirror.sources` row (src/bookkeeping/rows.ts). */
export interface SourceRow {
  id: string;
  baseId: string;
  /** Postgres schema of the mirror tables. */
  schemaName: string;
  /** schemaHash() of the base schema the mirror tables were built from; null before the first build. */
  schemaHash: string | null;
  /** Encrypted token for API-created sources (src/crypto); null for env-configured ones. */
  tokenEncrypted: string | null;
}

type Raw = Pick<SourcesRow, 'id' | 'base_id' | 'schema_name' | 'schema_hash' | 'token_encrypted'>;

const toRow = (r: Raw): SourceRow => ({
  id: r.id,
  baseId: r.base_id,
  schemaName: r.schema_name,
  schemaHash: r.schema_hash,
  tokenEncrypted: r.token_encrypted,
});

const COLUMNS = 'id, base_id, schema_name, schema_hash, token_encrypted';

export async function loadSource(q: Queryable, sourceId: string): Promise<SourceRow | undefined> {
  const r = await q.query<Raw>(sql(`SELECT ${COLUMNS} FROM airmirror.sources WHERE id = $1`, [sourceId]));
  return r.rows[0] ? toRow(r.rows[0]) : undefined;
}

export async function listSources(q: Queryable): Promise<SourceRow[]> {
  const r = await q.query<Raw>(sql(`SELECT ${COLUMNS} FROM airmirror.sources ORDER BY schema_name`));
  return r.rows.map(toRow);
}

/** The id of an env-configured source: the base id itself (stable across restarts, readable). */
export const configSourceId = (base: BaseConfig) => base.baseId;

/**
 * Makes sure every base of `AIRTABLE_BASES` has its `airmirror.sources` row. Tables get their rows
 * from the first schema read (the syncer's refreshSchema). The token is NOT stored: env-configured
 * sources keep it in memory, from config, in the returned map (source id → token).
 *
 * A base already mirrored into another schema, or a schema already used by another base, is a
 * conflict (moving a mirror is an explicit operation, not a side effect of an env change).
 */
export async function ensureSourcesFromConfig(
  db: Database,
  config: Pick<Config, 'bases' | 'airtableToken'>,
): Promise<{ sources: SourceRow[]; tokens: Map<string, string> }> {
  const tokens = new Map<string, string>();
  const sources: SourceRow[] = [];
  for (const base of config.bases) {
    const row = await db.tx(async (q) => {
      const existing = await q.query<Raw>(
        sql(`SELECT ${COLUMNS} FROM airmirror.sources WHERE base_id = $1 OR schema_name = $2 FOR UPDATE`, [
          base.baseId,
          base.schema,
        ]),
      );
      for (const r of existing.rows) {
        if (r.base_id === base.baseId && r.schema_name !== base.schema) {
          throw conflict(
            `AIRTABLE_BASES: base ${base.baseId} is already mirrored into schema "${r.schema_name}", not "${base.schema}"`,
          );
        }
        if (r.base_id !== base.baseId) {
          throw conflict(`AIRTABLE_BASES: schema "${base.schema}" already mirrors base ${r.base_id}`);
        }
      }
      if (existing.rows[0]) return toRow(existing.rows[0]);
      const ins = await q.query<Raw>(
        sql(
          `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`,
          [configSourceId(base), base.baseId, base.schema],
        ),
      );
      return toRow(ins.rows[0]);
    });
    sources.push(row);
    if (config.airtableToken) tokens.set(row.id, config.airtableToken);
  }
  return { sources, tokens };
}
