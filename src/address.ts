/**
 * Host names and IP literals, parsed rather than matched by prefix: `127.evil.example` is a name
 * (anyone's DNS may point it anywhere), `127.0.0.1` an address. Runtime-neutral (no node:net).
 */

/** 4 or 6 for an IPv4 (dotted quad) or IPv6 literal (without brackets), else 0. */
export function ipVersion(s: string): 0 | 4 | 6 {
  if (parseIpv4(s) !== undefined) return 4;
  if (!s.includes(':') || !/^[0-9a-f:.]+$/i.test(s)) return 0;
  try {
    return new URL(`http://[${s}]/`).hostname.length > 2 ? 6 : 0;
  } catch {
    return 0;
  }
}

/** The four octets of a dotted-quad IPv4 literal (decimal, 0–255 each), else undefined. */
export function parseIpv4(s: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  return octets.every((o, i) => o <= 255 && !(m[i + 1].length > 1 && m[i + 1].startsWith('0')))
    ? octets
    : undefined;
}

/**
 * Whether a listen address reaches this machine only: `localhost`, an address in 127.0.0.0/8,
 * `::1` (bracketed or not) or its IPv4-mapped form `::ffff:127.x.x.x`.
 */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const v4 = parseIpv4(h);
  if (v4) return v4[0] === 127;
  if (ipVersion(h) !== 6) return false;
  const canonical = new URL(`http://[${h}]/`).hostname; // e.g. [0:0::1] → [::1]
  if (canonical === '[::1]') return true;
  // ::ffff:127.0.0.1 is written back as [::ffff:7f00:1]
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}\]$/.exec(canonical);
  return mapped !== null && parseInt(mapped[1], 16) >> 8 === 127;
}

/** `name[:port]` or `[v6][:port]` (a Host header) → the lower-case name, IPv6 without brackets; undefined if malformed. */
export function hostnameOf(host: string): string | undefined {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    const inner = h.slice(1, end);
    return ipVersion(inner) === 6 ? inner : undefined;
  }
  if (ipVersion(h) === 6) return h; // HOST=::1 as configured, without brackets
  const m = /^([a-z0-9._-]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1].replace(/\.$/, '') : undefined;
}
