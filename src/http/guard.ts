import type { MiddlewareHandler } from 'hono';
import { hostnameOf, ipVersion } from '../address.ts';
import { AirmirrorError, apiErrorBody } from '../errors.ts';

/**
 * The management surface (`/api/*`, `/metrics`) answers only requests that cannot come from a
 * web page the operator happens to visit, whether or not an admin token is set:
 *
 * - **Host**: a name this server is known by — an IP literal, `localhost`, `HOST` when it is a
 *   name, or `AIRMIRROR_PUBLIC_URL`'s host. DNS rebinding points an attacker's name at our
 *   address, and the browser then sends that name as the Host; an IP literal cannot be rebound
 *   (the page's origin is that very address). Ports are not compared: behind a reverse proxy or a
 *   port mapping the Host's port is not ours, and the name is what an attacker cannot forge.
 * - **Origin** (sent by browsers on every cross-origin request, and on same-origin writes): the
 *   request's own origin (its host and port equal the Host) or `AIRMIRROR_PUBLIC_URL`'s. A page on
 *   any other site, or on another port of this machine, is refused; so is `Origin: null`
 *   (sandboxed frames, files).
 * - **JSON bodies only**: a request with a body (or a Content-Type) must say
 *   `application/json`. Browsers send text/plain, form and multipart bodies across sites without
 *   asking first (no CORS preflight); a JSON body makes them ask, and airmirror never says yes.
 */
export interface GuardOptions {
  /** HOST: the listen address. */
  host: string;
  /** AIRMIRROR_PUBLIC_URL (a function when it is known only once listening: the demo). */
  publicUrl?: string | (() => string | undefined);
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function managementGuard(opts: GuardOptions): MiddlewareHandler {
  const allowed = allowedHosts(opts);
  return async (c, next) => {
    const refusal = checkRequest(c.req.raw, allowed());
    if (refusal) return c.json(apiErrorBody(refusal), refusal.status as 400);
    return next();
  };
}

/** The refusal of a request by the rules above, or undefined when it may pass. */
export function checkRequest(req: Request, allowed: AllowedHosts): AirmirrorError | undefined {
  // The URL's host is the Host header (or, for an absolute request target, the target's): both
  // must name this server.
  const urlHost = new URL(req.url).host;
  const header = req.headers.get('host');
  for (const host of header === null ? [urlHost] : [header, urlHost]) {
    const name = hostnameOf(host);
    if (name === undefined || !(allowed.names.has(name) || ipVersion(name) !== 0)) {
      return new AirmirrorError(
        'HOST_NOT_ALLOWED',
        421,
        `This server does not answer for the host ${JSON.stringify(clip(host))}; use its address, ` +
          'localhost, or the host of AIRMIRROR_PUBLIC_URL (a guard against DNS rebinding)',
      );
    }
  }
  const origin = req.headers.get('origin');
  if (origin !== null && !originAllowed(origin, header ?? urlHost, allowed)) {
    return new AirmirrorError(
      'ORIGIN_NOT_ALLOWED',
      403,
      `Requests from ${JSON.stringify(clip(origin))} are not allowed: the management API takes no ` +
        'cross-site requests',
    );
  }
  if (BODY_METHODS.has(req.method.toUpperCase()) && !jsonOrNoBody(req.headers)) {
    return new AirmirrorError(
      'UNSUPPORTED_MEDIA_TYPE',
      415,
      'Request bodies must be JSON, sent with Content-Type: application/json',
    );
  }
  return undefined;
}

export interface AllowedHosts {
  /** Lower-case host names (no port, IPv6 without brackets). */
  names: ReadonlySet<string>;
  /** `scheme://host[:port]` of AIRMIRROR_PUBLIC_URL, lower case. */
  publicOrigin?: string;
}

/** The names this server is known by; re-read each time when the public URL is known late. */
export function allowedHosts(opts: GuardOptions): () => AllowedHosts {
  const compute = (publicUrl: string | undefined): AllowedHosts => {
    const names = new Set(['localhost']);
    const host = hostnameOf(opts.host);
    if (host && ipVersion(host) === 0) names.add(host);
    let publicOrigin: string | undefined;
    if (publicUrl) {
      try {
        const u = new URL(publicUrl);
        names.add(hostnameOf(u.host)!);
        publicOrigin = u.origin.toLowerCase();
      } catch {
        // parseConfig refuses an unparsable AIRMIRROR_PUBLIC_URL; nothing to add here.
      }
    }
    return { names, publicOrigin };
  };
  if (typeof opts.publicUrl !== 'function') {
    const fixed = compute(opts.publicUrl);
    return () => fixed;
  }
  const late = opts.publicUrl;
  return () => compute(late());
}

function originAllowed(origin: string, host: string, allowed: AllowedHosts): boolean {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false; // `null` and anything else that is not a URL
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  if (allowed.publicOrigin && u.origin.toLowerCase() === allowed.publicOrigin) return true;
  // Same origin: the page was served by this very host and port (schemes are not compared: TLS
  // may end at a proxy in front).
  return u.host.toLowerCase() === host.toLowerCase();
}

/** A request with a body, or that names a Content-Type, must be JSON (`application/json`, any parameters). */
function jsonOrNoBody(headers: Headers): boolean {
  const type = headers.get('content-type');
  if (type !== null) return type.split(';')[0].trim().toLowerCase() === 'application/json';
  const length = headers.get('content-length');
  return !headers.has('transfer-encoding') && (length === null || Number(length) === 0);
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
