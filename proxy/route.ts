import { AIRTABLE_HOST, routeNotFound, unknownHost } from './errors.ts';

/** The parts of an incoming proxy URL, taken from the raw URL text (nothing decoded). */
export interface ProxyTarget {
  /** The `{host}` path segment exactly as sent. */
  host: string;
  /** The path after `{host}`, starting with `/v0`, still percent-encoded. */
  path: string;
  /** The raw query including its `?` (airtable.js always sends one, even when empty), or ''. */
  query: string;
}

/**
 * Splits `http://proxy/{host}/v0/...?...` without decoding, so method, path and raw query go
 * upstream byte for byte. Only the literal host `api.airtable.com` is accepted: no decoding,
 * so `%61pi.airtable.com`, `api.airtable.com@evil.com` and the like are refused, never fetched.
 */
export function parseProxyUrl(url: string): ProxyTarget {
  const schemeEnd = url.indexOf('://');
  const pathStart = url.indexOf('/', schemeEnd < 0 ? 0 : schemeEnd + 3);
  if (pathStart < 0) throw routeNotFound();
  let rest = url.slice(pathStart);
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const pathname = q >= 0 ? rest.slice(0, q) : rest;
  const query = q >= 0 ? rest.slice(q) : '';

  const hostEnd = pathname.indexOf('/', 1);
  const host = hostEnd < 0 ? pathname.slice(1) : pathname.slice(1, hostEnd);
  const path = hostEnd < 0 ? '' : pathname.slice(hostEnd);
  if (path !== '/v0' && !path.startsWith('/v0/')) throw routeNotFound();
  if (host.toLowerCase() !== AIRTABLE_HOST) throw unknownHost(host);
  return { host, path, query };
}

/**
 * The upstream URL for a target. Belt and braces: whatever the path holds, the result must stay
 * on the configured upstream origin, or the request is refused.
 */
export function upstreamUrlFor(upstreamBase: string, target: ProxyTarget): string {
  const base = upstreamBase.replace(/\/+$/, '');
  const url = base + target.path + target.query;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw routeNotFound();
  }
  if (parsed.origin !== new URL(base).origin) throw routeNotFound();
  return url;
}
