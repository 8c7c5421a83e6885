import { tokenKeyOf } from '../airtable/token-key.ts';
import { loadSource, type Source } from '../bookkeeping/sources.ts';
import type { Queryable } from '../db/database.ts';

/**
 * The token key a source's calls count against, through the process's token resolver (the token
 * itself never leaves it); undefined when there is no such source. `start` (the quota service)
 * and `sync --once` both record it for `status`.
 */
export async function sourceTokenKeyOf(
  q: Queryable,
  tokenFor: (source: Source) => string | Promise<string>,
  sourceId: string,
): Promise<string | undefined> {
  const row = await loadSource(q, sourceId);
  return row ? tokenKeyOf(await tokenFor(row)) : undefined;
}
