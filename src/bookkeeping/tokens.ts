import { createSecretBox, type SecretBox } from '../crypto/secrets.ts';
import type { Source } from './sources.ts';

/**
 * The token stored (encrypted) with an API-created source, opened; undefined for an
 * env-configured source, whose token is never stored (it stays in the process config).
 */
export async function storedToken(
  secrets: Pick<SecretBox, 'decrypt'>,
  source: Pick<Source, 'tokenEncrypted'>,
): Promise<string | undefined> {
  return source.tokenEncrypted ? secrets.decrypt(source.tokenEncrypted) : undefined;
}

/**
 * The token of a source: env-configured sources have theirs in memory (from config, never stored);
 * API-created ones have it encrypted in airmirror.sources, opened with AIRMIRROR_SECRET_KEY.
 * Errors never contain the token.
 */
export function tokenResolver(opts: {
  tokens: ReadonlyMap<string, string>;
  secretKey?: string;
}): (source: Pick<Source, 'id' | 'tokenEncrypted'>) => Promise<string> {
  const box = opts.secretKey ? createSecretBox(opts.secretKey) : undefined;
  return async (source) => {
    const fromConfig = opts.tokens.get(source.id);
    if (fromConfig) return fromConfig;
    if (source.tokenEncrypted && box) return (await storedToken(box, source))!;
    if (source.tokenEncrypted)
      throw new Error(`source ${source.id} has a stored token but AIRMIRROR_SECRET_KEY is not set`);
    throw new Error(`source ${source.id} has no token (not in AIRTABLE_BASES and none stored)`);
  };
}
