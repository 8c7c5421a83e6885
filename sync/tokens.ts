import { createSecretBox } from '../src/crypto/secrets.ts';
import type { SourceRow } from '../src/bookkeeping/sources.ts';

/**
 * The token of a source: env-configured sources have theirs in memory (from config, never stored);
 * API-created ones have it encrypted in airmirror.sources, opened with AIRMIRROR_SECRET_KEY.
 * Errors never contain the token.
 */
export function tokenResolver(opts: {
  tokens: ReadonlyMap<string, string>;
  secretKey?: string;
}): (source: SourceRow) => Promise<string> {
  const box = opts.secretKey ? createSecretBox(opts.secretKey) : undefined;
  return async (source) => {
    const fromConfig = opts.tokens.get(source.id);
    if (fromConfig) return fromConfig;
    if (source.tokenEncrypted && box) return box.decrypt(source.tokenEncrypted);
    if (source.tokenEncrypted)
      throw new Error(`source ${source.id} has a stored token but AIRMIRROR_SECRET_KEY is not set`);
    throw new Error(`source ${source.id} has no token (not in AIRTABLE_BASES and none stored)`);
  };
}
