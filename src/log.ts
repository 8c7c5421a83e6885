import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths that may carry secrets anywhere in a log object. pino replaces them before a line is
 * written, so a token passed by mistake still never reaches the log (docs/DESIGN.md invariant 8).
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'secret',
  '*.secret',
  'macSecretBase64',
  '*.macSecretBase64',
  'password',
  '*.password',
  'databaseUrl',
  '*.databaseUrl',
];

export function createLogger(
  opts: { level?: string; destination?: NodeJS.WritableStream; name?: string } = {},
): Logger {
  const level = opts.level ?? process.env.AIRMIRROR_LOG_LEVEL ?? 'info';
  return pino(
    { name: opts.name ?? 'airmirror', level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    opts.destination ?? process.stderr,
  );
}

/** Removes credentials from a URL before it is shown or logged. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return '[unparsable url]';
  }
}
