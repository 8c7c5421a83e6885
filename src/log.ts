import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export type { Logger };

/** AIRMIRROR_LOG_FORMAT: `json` (one pino JSON object a line) or `pretty` (one readable line an event). */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Paths that may carry secrets anywhere in a log object. pino replaces them before a line is
 * written, so a token passed by mistake still never reaches the log (docs/DESIGN.md invariant 8).
 * The pretty format prints what pino wrote, so it is redacted the same way.
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

/** The format asked for, or else pretty for a person at a terminal and JSON for everything else. */
export function logFormatFor(asked: LogFormat | undefined, out: { isTTY?: boolean }): LogFormat {
  return asked ?? (out.isTTY ? 'pretty' : 'json');
}

/**
 * The logger of a CLI command (start, sync, emulator), writing to `out` (stderr) in the format
 * AIRMIRROR_LOG_FORMAT asks for, or by logFormatFor's rule. Pretty is one line per event, in
 * colour on a terminal (unless NO_COLOR is set): the time, the level, the message, then the
 * event's fields on the same line. It is formatted in process and written synchronously, like the
 * JSON lines, so a crash loses no line; pino-pretty is loaded only when it is used.
 */
export async function createCommandLogger(opts: {
  level?: string;
  format?: LogFormat;
  name?: string;
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: Record<string, string | undefined>;
}): Promise<Logger> {
  const out = opts.out ?? process.stderr;
  if (logFormatFor(opts.format, out) === 'json') {
    return createLogger({ level: opts.level, name: opts.name, destination: out });
  }
  const { prettyFactory } = await import('pino-pretty');
  const env = opts.env ?? process.env;
  const prettify = prettyFactory({
    colorize: Boolean(out.isTTY) && !env.NO_COLOR,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    // An error's fields stay on the event's line too (pino-pretty would spread err over several).
    errorLikeObjectKeys: [],
  });
  const destination = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, done) {
      out.write(prettify(String(chunk)));
      done();
    },
  });
  return createLogger({ level: opts.level, name: opts.name, destination });
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

/**
 * A Postgres URL to print for the operator (the start banner's `psql` line): without its password
 * when the operator supplied it (DATABASE_URL: they have it already, and a banner ends up in
 * terminals, scrollback and CI logs), as it is when airmirror generated it (the demo's embedded
 * Postgres: showing it is the point of the demo).
 */
export function printableDatabaseUrl(url: string, suppliedByOperator: boolean): string {
  if (!suppliedByOperator) return url;
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return '[unparsable url]';
  }
}

/**
 * `text` with the password of the operator's DATABASE_URL taken out of every URL that carries it
 * (`user:<password>@` → `user@`), whichever line prints it: the banner's psql lines, and any other
 * connection string built from the same credentials (the Postgres endpoint's). Nothing to hide
 * when the operator supplied no password (the demo's generated one is shown on purpose).
 */
export function withoutSuppliedPassword(text: string, suppliedDatabaseUrl: string | undefined): string {
  let password = '';
  try {
    password = suppliedDatabaseUrl ? new URL(suppliedDatabaseUrl).password : '';
  } catch {
    return text; // parseConfig refuses such a URL: none of it can be in the text
  }
  if (!password) return text;
  // The URL's own (percent-encoded) spelling and the decoded one, either way a URL may print it.
  const spellings = [...new Set([password, safeDecode(password)])];
  return spellings.reduce((out, p) => out.replaceAll(`:${p}@`, '@'), text);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
