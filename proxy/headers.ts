/** Hop-by-hop headers (RFC 9110 §7.6.1) plus `host`: they describe one connection, not the message. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

function connectionListed(headers: Headers): Set<string> {
  const listed = new Set<string>();
  for (const token of (headers.get('connection') ?? '').split(',')) {
    const name = token.trim().toLowerCase();
    if (name) listed.add(name);
  }
  return listed;
}

function dropHeader(name: string, listed: Set<string>): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-') || listed.has(name);
}

/**
 * What goes upstream: the app's own headers (Authorization included) minus hop-by-hop ones and
 * content-length, which fetch recomputes from the body it sends.
 */
export function upstreamRequestHeaders(incoming: Headers): Headers {
  const listed = connectionListed(incoming);
  const out = new Headers();
  incoming.forEach((value, name) => {
    if (dropHeader(name, listed) || name === 'content-length') return;
    out.append(name, value);
  });
  return out;
}

/**
 * What goes back to the app: Airtable's headers minus hop-by-hop ones. When the answer was
 * compressed, fetch has decoded it, so content-encoding and content-length no longer hold and
 * are dropped; otherwise content-length is kept (the body passes through byte for byte).
 */
export function downstreamResponseHeaders(upstream: Headers): Headers {
  const listed = connectionListed(upstream);
  const decoded = upstream.has('content-encoding');
  const out = new Headers();
  upstream.forEach((value, name) => {
    if (dropHeader(name, listed) || name === 'content-encoding') return;
    if (name === 'content-length' && decoded) return;
    out.append(name, value);
  });
  // Headers.forEach joins Set-Cookie values; keep them separate where the runtime can.
  const cookies = (upstream as Headers & { getSetCookie?: () => string[] }).getSetCookie?.() ?? [];
  if (cookies.length > 1) {
    out.delete('set-cookie');
    for (const c of cookies) out.append('set-cookie', c);
  }
  return out;
}
