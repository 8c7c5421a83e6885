import type { BaseConfig, Config } from '../config.ts';
import { SOURCES_COLUMNS, type SourcesRow } from './rows.ts';
import type { Database, Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import { conflict } from '../errors.ts';

/** An `airmirror.sources` row: a base mirrored into a Postgres schema. */
export interface Source {
  id: string;
  baseId: string;
  /** Postgres schema of the mirror tables. */
  schemaName: string;
  name: string | null;
  description: string | null;
  /** Encrypted token of an API-created source (src/crypto); null for env-configured ones. */
  tokenEncrypted: string | null;
  /** schemaHash() of the base schema the mirror tables were built from; null before the first build. */
  schemaHash: string | null;
  baseSchema: unknown;
  createdAt: Date;
  updatedAt: Date;
  /** The state of its base-schema reads (src/bookkeeping/schema-health.ts). */
  schemaCheckedAt: Date | null;
  schemaError: string | null;
  schemaFailingSince: Date | null;
  schemaFailures: number;
  schemaRetryAt: Date | null;
  /** Freshness target of its webhook tables, seconds (migration 060, src/quota). */
  maxLagSeconds: number;
}

function toSource(r: SourcesRow): Source {
  return {
    id: r.id,
    baseId: r.base_id,
    schemaName: r.schema_name,
    name: r.name,
    description: r.description,
    tokenEncrypted: r.token_encrypted,
    schemaHash: r.schema_hash,
    baseSchema: r.base_schema,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    schemaCheckedAt: r.schema_checked_at,
    schemaError: r.schema_error,
    schemaFailingSince: r.schema_failing_since,
    schemaFailures: r.schema_failures,
    schemaRetryAt: r.schema_retry_at,
    maxLagSeconds: r.max_lag_seconds,
  };
}

const COLUMNS = SOURCES_COLUMNS.join(', ');

export async function loadSource(q: Queryable, sourceId: string): Promise<Source | undefined> {
  const r = await q.query<SourcesRow>(
    sql(`SELECT ${COLUMNS} FROM airmirror.sources WHERE id = $1`, [sourceId]),
  );
  return r.rows[0] ? toSource(r.rows[0]) : undefined;
}

/**
 * Every source: by schema name (the syncer's order), or in the order they were created (the
 * management API's).
 */
export async function listSources(q: Queryable, order: 'schema' | 'created' = 'schema'): Promise<Source[]> {
  const by = order === 'schema' ? 'schema_name' : 'created_at, id';
  const r = await q.query<SourcesRow>(sql(`SELECT ${COLUMNS} FROM airmirror.sources ORDER BY ${by}`));
  return r.rows.map(toSource);
}

/** The id and schema hash of the source mirroring `baseId` (the proxy's lookup per write). */
export async function sourceByBase(
  q: Queryable,
  baseId: string,
): Promise<Pick<Source, 'id' | 'schemaHash'> | undefined> {
  const r = await q.query<Pick<SourcesRow, 'id' | 'schema_hash'>>(
    sql('SELECT id, schema_hash FROM airmirror.sources WHERE base_id = $1', [baseId]),
  );
  const row = r.rows[0];
  return row ? { id: row.id, schemaHash: row.schema_hash } : undefined;
}

/** The id of the source mirroring into `schema`, if any. */
export async function sourceIdBySchema(q: Queryable, schema: string): Promise<string | undefined> {
  const r = await q.query<{ id: string }>(
    sql('SELECT id FROM airmirror.sources WHERE schema_name = $1', [schema]),
  );
  return r.rows[0]?.id;
}

/** Sources that already use `baseId` or `schemaName` (a new source must use neither). */
export async function sourceConflicts(
  q: Queryable,
  baseId: string,
  schemaName: string,
): Promise<Pick<Source, 'baseId' | 'schemaName'>[]> {
  const r = await q.query<Pick<SourcesRow, 'base_id' | 'schema_name'>>(
    sql(`SELECT base_id, schema_name FROM airmirror.sources WHERE base_id = $1 OR schema_name = $2`, [
      baseId,
      schemaName,
    ]),
  );
  return r.rows.map((x) => ({ baseId: x.base_id, schemaName: x.schema_name }));
}

/** An API-created source (its token sealed by the caller). A unique violation is the caller's to map. */
export async function insertSource(
  q: Queryable,
  s: {
    id: string;
    baseId: string;
    schemaName: string;
    name: string | null;
    description?: string | null;
    tokenEncrypted: string;
  },
): Promise<Source> {
  const r = await q.query<SourcesRow>(
    sql(
      `INSERT INTO airmirror.sources (id, base_id, schema_name, name, description, token_encrypted)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [s.id, s.baseId, s.schemaName, s.name, s.description ?? null, s.tokenEncrypted],
    ),
  );
  return toSource(r.rows[0]);
}

/**
 * Changes a source's settings (`PATCH /api/sources/{id}`): only the fields given (a token already
 * sealed by the caller). The mirror and the schema hash are not touched. Undefined when no such
 * source.
 */
export async function updateSourceSettings(
  q: Queryable,
  sourceId: string,
  s: { name?: string | null; description?: string | null; tokenEncrypted?: string; maxLagSeconds?: number },
): Promise<Source | undefined> {
  const r = await q.query<SourcesRow>(
    sql(
      `UPDATE airmirror.sources
          SET name = CASE WHEN $2::boolean THEN $3 ELSE name END,
              description = CASE WHEN $4::boolean THEN $5 ELSE description END,
              token_encrypted = coalesce($6, token_encrypted),
              max_lag_seconds = coalesce($7, max_lag_seconds),
              updated_at = now()
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        sourceId,
        s.name !== undefined,
        s.name ?? null,
        s.description !== undefined,
        s.description ?? null,
        s.tokenEncrypted ?? null,
        s.maxLagSeconds ?? null,
      ],
    ),
  );
  return r.rows[0] ? toSource(r.rows[0]) : undefined;
}

/** Deletes a source; its tables, runs, columns, webhook… go with it (ON DELETE CASCADE). */
export async function deleteSource(q: Queryable, sourceId: string): Promise<void> {
  await q.query(sql('DELETE FROM airmirror.sources WHERE id = $1', [sourceId]));
}

/** Records the hash of the base schema the mirror tables were (re)built from (src/mirror saveMapping). */
export async function setSchemaHash(q: Queryable, sourceId: string, hash: string): Promise<void> {
  await q.query(
    sql('UPDATE airmirror.sources SET schema_hash = $2, updated_at = now() WHERE id = $1', [sourceId, hash]),
  );
}

/** Serializes `ensureSourcesFromConfig` across processes ('amsc'). */
const ENSURE_SOURCES_LOCK = 0x616d7363;

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
): Promise<{ sources: Source[]; tokens: Map<string, string> }> {
  const tokens = new Map<string, string>();
  const sources: Source[] = [];
  for (const base of config.bases) {
    const row = await db.tx(async (q) => {
      // Processes starting together on one database (replicas): one at a time, so the second
      // finds the first's row instead of failing on the unique key.
      await q.query(sql('SELECT pg_advisory_xact_lock($1)', [ENSURE_SOURCES_LOCK]));
      const existing = await q.query<SourcesRow>(
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
      if (existing.rows[0]) return toSource(existing.rows[0]);
      const ins = await q.query<SourcesRow>(
        sql(
          `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`,
          [configSourceId(base), base.baseId, base.schema],
        ),
      );
      return toSource(ins.rows[0]);
    });
    sources.push(row);
    if (config.airtableToken) tokens.set(row.id, config.airtableToken);
  }
  return { sources, tokens };
}
