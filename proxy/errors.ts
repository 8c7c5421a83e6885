import { RATE_LIMIT_TYPE } from '../src/airtable/errors.ts';
import { AirmirrorError, airtableErrorBody } from '../src/errors.ts';

/**
 * The proxy's own refusals and failures, each Airtable-shaped (docs/airtable-reference.md §2.4) so an app's
 * Airtable client handles them like any Airtable error.
 */

export const AIRTABLE_HOST = 'api.airtable.com';

export function unknownHost(host: string): AirmirrorError {
  const shown = host.length > 80 ? `${host.slice(0, 80)}…` : host;
  return new AirmirrorError(
    'INVALID_REQUEST_UNKNOWN',
    400,
    `airmirror proxies only ${AIRTABLE_HOST}; "${shown}" is not an allowed upstream host`,
  );
}

/** docs/airtable-reference.md §2.5: Airtable answers 400 when the body is not valid JSON (its type is undocumented). */
export const invalidJson = () =>
  new AirmirrorError('INVALID_REQUEST_BODY', 400, 'Could not parse the request body as JSON');

/** docs/airtable-reference.md §2.2/§2.5: 413; the type is unconfirmed, airtable.js names it REQUEST_TOO_LARGE. */
export const bodyTooLarge = (limit: number) =>
  new AirmirrorError('REQUEST_TOO_LARGE', 413, `Request body exceeds the proxy limit of ${limit} bytes`);

/** TRACE, TRACK, CONNECT: never forwarded (Airtable has no use for them; TRACE echoes headers back). */
export const methodNotAllowed = (method: string) =>
  new AirmirrorError('METHOD_NOT_ALLOWED', 405, `The ${method} method is not allowed`);

/** The `Allow` header of a 405. */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** docs/airtable-reference.md §2.4: Airtable's answer for an undefined route is the string form. */
export const routeNotFound = () => new AirmirrorError('NOT_FOUND', 404, 'Not found');

/**
 * docs/airtable-reference.md §2.1: what Airtable answers a base over its rate limit, status, type and message
 * alike, so an app's client backs off and retries as it would with Airtable (airtable.js retries
 * every 429).
 */
export const rateLimitReached = () =>
  new AirmirrorError(RATE_LIMIT_TYPE, 429, 'Rate limit exceeded. Please try again later');

export const upstreamUnreachable = (cause: unknown) =>
  new AirmirrorError('PROXY_UPSTREAM_UNREACHABLE', 502, 'The airmirror proxy could not reach Airtable', {
    cause,
  });

export const upstreamTimeout = (ms: number) =>
  new AirmirrorError(
    'PROXY_UPSTREAM_TIMEOUT',
    504,
    `The airmirror proxy could not reach Airtable: no answer within ${ms} ms`,
  );

/** The one place a proxy error becomes a response body. */
export function proxyErrorBody(err: AirmirrorError): unknown {
  if (err.code === 'NOT_FOUND' && err.status === 404) return { error: 'NOT_FOUND' };
  return airtableErrorBody(err);
}
