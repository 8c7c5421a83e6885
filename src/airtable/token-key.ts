import { createHash } from 'node:crypto';

/** The key a token is known by (budget rows, call counts, caches): never the token itself. */
export function tokenKeyOf(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

/** `tokenKeyOf` remembering its last token: a process sends most requests with one, hashed once. */
export function lastTokenKey(): (token: string) => string {
  let lastToken: string | undefined;
  let lastKey = '';
  return (token) => {
    if (token !== lastToken) {
      lastKey = tokenKeyOf(token);
      lastToken = token;
    }
    return lastKey;
  };
}
