import type { SecretBox } from '../crypto/secrets.ts';
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';

/**
 * The Airtable token stored (encrypted) for an API-created source, or undefined for an
 * env-configured source (its token stays in the process config). For the syncer's client factory.
 */
export async function sourceToken(
  q: Queryable,
  secrets: SecretBox,
  sourceId: string,
): Promise<string | undefined> {
  const r = await q.query<{ token_encrypted: string | null }>(
    sql('SELECT token_encrypted FROM airmirror.sources WHERE id = $1', [sourceId]),
  );
  const sealed = r.rows[0]?.token_encrypted;
  return sealed ? secrets.decrypt(sealed) : undefined;
}
