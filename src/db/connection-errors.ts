/**
 * Whether an error means "Postgres is not there right now" (refused, reset, restarting, shutting
 * down, the connection lost or never made) rather than Postgres refusing a statement. The first
 * kind heals by itself when the server comes back, so callers wait and retry; the second does not.
 */

/** SQLSTATEs of a server going away or not taking connections yet. */
const SERVER_AWAY = new Set([
  '57P01', // admin_shutdown: "terminating connection due to administrator command"
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: "the database system is starting up / shutting down"
  '57P05', // idle_session_timeout
]);

/** Socket errors of a server that is down or unreachable. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** pg's own messages when the socket ends or a connect attempt gives up. */
const PG_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
];

export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      // Class 08 is "connection exception" (08000, 08003, 08006, 08001, 08004, …).
      if (code.startsWith('08') || SERVER_AWAY.has(code) || SOCKET_CODES.has(code)) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && PG_MESSAGES.some((m) => message.startsWith(m))) return true;
    // An AggregateError of connect attempts (IPv4 and IPv6 both refused) or a wrapped cause.
    const inner = (e as { errors?: unknown[] }).errors?.[0] ?? (e as { cause?: unknown }).cause;
    e = inner;
  }
  return false;
}
