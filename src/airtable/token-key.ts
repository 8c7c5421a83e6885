import { createHash } from 'node:crypto';

/** The key a token is known by (budget rows, call counts, caches): never the token itself. */
export function tokenKeyOf(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}
