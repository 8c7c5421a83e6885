/**
 * The environment, parsed once into typed settings by a pure function over an injected env
 * (no reads of `process.env` anywhere else). Bad configuration throws a ConfigError whose
 * message is one line naming the variable, so start-up stops before anything is started.
 */
import { isLoopback } from './address.ts';

export interface BaseConfig {
  baseId: string;
  schema: string;
}

/**
 * What the write-through proxy reads: everything it needs on Workers, where nothing else of
 * airmirror runs. `airmirror start` reads the same through parseConfig, with the same defaults.
 */
export interface ProxyConfig {
  /** undefined → embedded Postgres under `dataDir/pg` (Node); on Workers, no mirror writes. */
  databaseUrl?: string;
  airtableApiUrl: string;
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  /** Named prepared statements on the mirror's connections (off behind PgBouncer < 1.21 in transaction mode). */
  pgPreparedStatements: boolean;
  /** Requests per second per base shared by every component and process (Airtable allows 5). */
  rateLimitPerSecond: number;
}

export interface Config extends ProxyConfig {
  dataDir: string;
  airtableToken?: string;
  bases: BaseConfig[];
  port: number;
  host: string;
  adminToken?: string;
  secretKey?: string;
  publicUrl?: string;
  /** Monthly Airtable call budget per token (issue 17): null is unlimited; the apps' share in %. */
  quota: { monthlyCalls: number | null; appSharePercent: number };
  /** No bases and no token: run the built-in emulator with the demo base. */
  demo: boolean;
  logLevel: string;
  /** AIRMIRROR_LOG_FORMAT; undefined: pretty on a terminal, JSON otherwise (src/log.ts logFormatFor). */
  logFormat?: 'json' | 'pretty';
  hashCacheSize: number;
  /** Table runs at once in this process, over all its bases (AIRMIRROR_SYNC_CONCURRENCY). */
  syncConcurrency: number;
  /** Table runs at once per base (AIRMIRROR_SYNC_CONCURRENCY_PER_BASE). */
  syncConcurrencyPerBase: number;
  /** How long bookkeeping rows are kept (src/bookkeeping/retention.ts), in ms. */
  retention: { fenceMs: number; runsMs: number; outboxMs: number; deadLettersMs: number };
  /** `/metrics` without the admin token even when one is set (AIRMIRROR_METRICS_PUBLIC). */
  metricsPublic: boolean;
  /** The Postgres endpoint (proxy/pg, docs/postgres-endpoint.md). */
  pgEndpoint: PgEndpointConfig;
}

/** AIRMIRROR_PG_*: the Postgres wire-protocol endpoint that passes writes to Airtable first. */
export interface PgEndpointConfig {
  /** Listen port on HOST; null = `off`. */
  port: number | null;
  /** True when AIRMIRROR_PG_PORT was set (a taken default port falls back to a free one instead). */
  portExplicit: boolean;
  /** PEM file paths; both or neither. With them the endpoint accepts SSL and may take passwords off loopback. */
  tlsCert?: string;
  tlsKey?: string;
  /** Direct writes to mirror tables (not through airmirror) fail; `off` turns the trigger's check off. */
  writeGuard: boolean;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

/** Every AIRMIRROR_* variable parseConfig reads; any other is refused (a typo must not pass silently). */
export const KNOWN_AIRMIRROR_VARS: ReadonlySet<string> = new Set([
  'AIRMIRROR_ADMIN_TOKEN',
  'AIRMIRROR_SECRET_KEY',
  'AIRMIRROR_PUBLIC_URL',
  'AIRMIRROR_DATA_DIR',
  'AIRMIRROR_LOG_LEVEL',
  'AIRMIRROR_LOG_FORMAT',
  'AIRMIRROR_UPSTREAM_TIMEOUT_MS',
  'AIRMIRROR_MAX_BODY_BYTES',
  'AIRMIRROR_HASH_CACHE_SIZE',
  'AIRMIRROR_RATE_LIMIT',
  'AIRMIRROR_PG_PREPARED_STATEMENTS',
  'AIRMIRROR_METRICS_PUBLIC',
  'AIRMIRROR_PG_PORT',
  'AIRMIRROR_PG_TLS_CERT',
  'AIRMIRROR_PG_TLS_KEY',
  'AIRMIRROR_PG_WRITE_GUARD',
  'AIRMIRROR_FENCE_RETENTION_HOURS',
  'AIRMIRROR_RUN_RETENTION_DAYS',
  'AIRMIRROR_OUTBOX_RETENTION_HOURS',
  'AIRMIRROR_DEAD_LETTER_RETENTION_DAYS',
  'AIRMIRROR_MONTHLY_CALL_BUDGET',
  'AIRMIRROR_QUOTA_APP_SHARE',
  'AIRMIRROR_SYNC_CONCURRENCY',
  'AIRMIRROR_SYNC_CONCURRENCY_PER_BASE',
]);

const BASE_ID = /^app[A-Za-z0-9]{14}$/;
// Leaves room for the `_swap` suffix within Postgres' 63-byte identifier limit.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,57}$/;

export { isLoopback };

/**
 * Why `name` cannot hold a base's mirror, or undefined when it can: Postgres' own schemas
 * (`pg_*`, `information_schema`), airmirror's bookkeeping (`airmirror`), and `<x>_swap`, where a
 * rebuild of the base in `<x>` builds its new tables and which it drops afterwards.
 */
export function schemaNameProblem(name: string): string | undefined {
  if (!SCHEMA_NAME.test(name)) return 'must be a lowercase Postgres identifier of at most 58 characters';
  if (name === 'information_schema' || name.startsWith('pg_')) return 'is reserved: a Postgres system schema';
  if (name === 'airmirror') return "is reserved: airmirror's own bookkeeping schema";
  if (name.endsWith('_swap')) return 'is reserved: <schema>_swap is where a rebuild builds its new tables';
  return undefined;
}

/**
 * The admin token is a bearer secret anyone who can reach the port may try to guess, as fast as
 * they like: 32 characters of a random token (`openssl rand -hex 16` gives 128 bits) put guessing
 * out of reach. The secret key derives the AES key of every stored token and MAC secret, and
 * whoever gets a database dump can try keys offline at GPU speed: the same 128 bits at least.
 * Fewer than 8 different characters is a placeholder ("aaaa…", "changeme" repeated), not random.
 */
export const MIN_SECRET_LENGTH = 32;
const MIN_DISTINCT_CHARACTERS = 8;

function checkSecret(variable: string, value: string, makeOne: string): void {
  if (value.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      variable,
      `must be at least ${MIN_SECRET_LENGTH} characters of a random secret (got ${value.length}): ` +
        `shorter ones can be guessed; make one with ${makeOne}`,
    );
  }
  if (new Set(value).size < MIN_DISTINCT_CHARACTERS) {
    throw new ConfigError(
      variable,
      `looks like a placeholder, not a random secret (fewer than ${MIN_DISTINCT_CHARACTERS} different characters); make one with ${makeOne}`,
    );
  }
}

/**
 * The proxy's settings alone (the Workers entry). Settings only `airmirror start` uses are not
 * required here, and ignored when set; an unknown AIRMIRROR_* variable is refused all the same.
 */
export function parseProxyConfig(env: Env): ProxyConfig {
  for (const key of Object.keys(env)) {
    if (key.startsWith('AIRMIRROR_') && !KNOWN_AIRMIRROR_VARS.has(key)) {
      throw new ConfigError(key, 'unknown option (known: ' + [...KNOWN_AIRMIRROR_VARS].join(', ') + ')');
    }
  }

  const databaseUrl = optional(env, 'DATABASE_URL');
  if (databaseUrl !== undefined) parseUrl('DATABASE_URL', databaseUrl, ['postgres:', 'postgresql:']);

  const airtableApiUrl = (optional(env, 'AIRTABLE_API_URL') ?? 'https://api.airtable.com').replace(
    /\/+$/,
    '',
  );
  parseUrl('AIRTABLE_API_URL', airtableApiUrl, ['http:', 'https:']);

  return {
    databaseUrl,
    airtableApiUrl,
    upstreamTimeoutMs: integer(env, 'AIRMIRROR_UPSTREAM_TIMEOUT_MS', 30_000, 1, 600_000),
    maxBodyBytes: integer(env, 'AIRMIRROR_MAX_BODY_BYTES', 5 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    pgPreparedStatements: onOff(env, 'AIRMIRROR_PG_PREPARED_STATEMENTS', true),
    rateLimitPerSecond: integer(env, 'AIRMIRROR_RATE_LIMIT', 5, 1, 1000),
  };
}

export function parseConfig(env: Env): Config {
  const proxy = parseProxyConfig(env);

  const publicUrl = optional(env, 'AIRMIRROR_PUBLIC_URL')?.replace(/\/+$/, '');
  if (publicUrl !== undefined) parseUrl('AIRMIRROR_PUBLIC_URL', publicUrl, ['http:', 'https:']);

  const bases = parseBases(optional(env, 'AIRTABLE_BASES'));
  const airtableToken = optional(env, 'AIRTABLE_TOKEN');
  if (bases.length > 0 && !airtableToken) {
    throw new ConfigError('AIRTABLE_TOKEN', 'required when AIRTABLE_BASES is set');
  }
  const demo = bases.length === 0 && !airtableToken;

  const host = optional(env, 'HOST') ?? '127.0.0.1';
  const port = integer(env, 'PORT', 8787, 0, 65535);
  const adminToken = optional(env, 'AIRMIRROR_ADMIN_TOKEN');
  if (!adminToken && !isLoopback(host)) {
    throw new ConfigError('AIRMIRROR_ADMIN_TOKEN', `required when HOST (${host}) is not a loopback address`);
  }
  if (adminToken !== undefined) checkSecret('AIRMIRROR_ADMIN_TOKEN', adminToken, '`openssl rand -hex 32`');

  const secretKey = optional(env, 'AIRMIRROR_SECRET_KEY');
  if (!demo && !secretKey) {
    throw new ConfigError('AIRMIRROR_SECRET_KEY', 'required outside demo mode (it encrypts stored tokens)');
  }
  if (secretKey !== undefined) checkSecret('AIRMIRROR_SECRET_KEY', secretKey, '`openssl rand -base64 32`');

  const { logLevel, logFormat } = parseLogSettings(env);

  return {
    ...proxy,
    dataDir: optional(env, 'AIRMIRROR_DATA_DIR') ?? './.airmirror',
    airtableToken,
    bases,
    port,
    host,
    adminToken,
    secretKey,
    publicUrl,
    demo,
    logLevel,
    logFormat,
    hashCacheSize: integer(env, 'AIRMIRROR_HASH_CACHE_SIZE', 1_000_000, 0, 100_000_000),
    syncConcurrency: integer(env, 'AIRMIRROR_SYNC_CONCURRENCY', 100, 1, 10_000),
    syncConcurrencyPerBase: integer(env, 'AIRMIRROR_SYNC_CONCURRENCY_PER_BASE', 2, 1, 100),
    metricsPublic: onOff(env, 'AIRMIRROR_METRICS_PUBLIC', false),
    pgEndpoint: parsePgEndpoint(env),
    retention: {
      fenceMs: integer(env, 'AIRMIRROR_FENCE_RETENTION_HOURS', 168, 1, 87_600) * HOUR_MS,
      runsMs: integer(env, 'AIRMIRROR_RUN_RETENTION_DAYS', 30, 1, 3_650) * DAY_MS,
      outboxMs: integer(env, 'AIRMIRROR_OUTBOX_RETENTION_HOURS', 1, 1, 87_600) * HOUR_MS,
      deadLettersMs: integer(env, 'AIRMIRROR_DEAD_LETTER_RETENTION_DAYS', 30, 1, 3_650) * DAY_MS,
    },
    quota: parseQuota(env),
  };
}

/** A Team plan's 100,000 calls a month (docs/airtable-reference.md §2.1) unless told otherwise. */
/**
 * AIRMIRROR_LOG_LEVEL and AIRMIRROR_LOG_FORMAT alone: what every command that logs reads, the
 * ones without the rest of the configuration (`airmirror emulator`) included.
 */
export function parseLogSettings(env: Env): Pick<Config, 'logLevel' | 'logFormat'> {
  const logLevel = optional(env, 'AIRMIRROR_LOG_LEVEL') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('AIRMIRROR_LOG_LEVEL', `unknown level "${logLevel}"`);
  }
  const logFormat = optional(env, 'AIRMIRROR_LOG_FORMAT')?.toLowerCase();
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'pretty') {
    throw new ConfigError('AIRMIRROR_LOG_FORMAT', `must be json or pretty, got "${logFormat}"`);
  }
  return { logLevel, logFormat: logFormat as Config['logFormat'] };
}

export const DEFAULT_MONTHLY_CALL_BUDGET = 100_000;
export const DEFAULT_QUOTA_APP_SHARE_PERCENT = 20;

function parseQuota(env: Env): Config['quota'] {
  const raw = optional(env, 'AIRMIRROR_MONTHLY_CALL_BUDGET');
  const monthlyCalls =
    raw?.toLowerCase() === 'unlimited'
      ? null
      : integer(env, 'AIRMIRROR_MONTHLY_CALL_BUDGET', DEFAULT_MONTHLY_CALL_BUDGET, 0, 1_000_000_000);
  return {
    monthlyCalls,
    appSharePercent: integer(env, 'AIRMIRROR_QUOTA_APP_SHARE', DEFAULT_QUOTA_APP_SHARE_PERCENT, 0, 90),
  };
}

/** Default port of the Postgres endpoint: next to Postgres' own 5432. */
export const DEFAULT_PG_PORT = 5433;

function parsePgEndpoint(env: Env): PgEndpointConfig {
  const raw = optional(env, 'AIRMIRROR_PG_PORT');
  const port =
    raw?.toLowerCase() === 'off' ? null : integer(env, 'AIRMIRROR_PG_PORT', DEFAULT_PG_PORT, 0, 65535);
  const tlsCert = optional(env, 'AIRMIRROR_PG_TLS_CERT');
  const tlsKey = optional(env, 'AIRMIRROR_PG_TLS_KEY');
  if (tlsCert && !tlsKey)
    throw new ConfigError('AIRMIRROR_PG_TLS_KEY', 'required when AIRMIRROR_PG_TLS_CERT is set');
  if (tlsKey && !tlsCert)
    throw new ConfigError('AIRMIRROR_PG_TLS_CERT', 'required when AIRMIRROR_PG_TLS_KEY is set');
  return {
    port,
    portExplicit: raw !== undefined,
    tlsCert,
    tlsKey,
    writeGuard: onOff(env, 'AIRMIRROR_PG_WRITE_GUARD', true),
  };
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function optional(env: Env, key: string): string | undefined {
  const v = env[key]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function onOff(env: Env, key: string, fallback: boolean): boolean {
  const raw = optional(env, key)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['on', 'true', '1', 'yes'].includes(raw)) return true;
  if (['off', 'false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(key, `must be on or off, got "${raw}"`);
}

function parseUrl(variable: string, value: string, protocols: string[]): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(variable, 'is not a parsable URL');
  }
  if (!protocols.includes(u.protocol)) {
    throw new ConfigError(variable, `must be a ${protocols.join(' or ')} URL`);
  }
  return u;
}

function integer(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, key);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(key, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(key, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function parseBases(raw: string | undefined): BaseConfig[] {
  if (raw === undefined) return [];
  const out: BaseConfig[] = [];
  const bySchema = new Map<string, string>();
  const seen = new Set<string>();
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [baseId, schema = 'public', ...rest] = part.split(':');
    if (rest.length > 0) throw new ConfigError('AIRTABLE_BASES', `"${part}" is not baseId[:schema]`);
    if (!BASE_ID.test(baseId)) {
      throw new ConfigError('AIRTABLE_BASES', `"${baseId}" is not a base id (app + 14 letters or digits)`);
    }
    const problem = schemaNameProblem(schema);
    if (problem) throw new ConfigError('AIRTABLE_BASES', `schema "${schema}" ${problem}`);
    if (seen.has(baseId)) throw new ConfigError('AIRTABLE_BASES', `base ${baseId} is listed twice`);
    const other = bySchema.get(schema);
    if (other) {
      throw new ConfigError('AIRTABLE_BASES', `bases ${other} and ${baseId} both map to schema "${schema}"`);
    }
    seen.add(baseId);
    bySchema.set(schema, baseId);
    out.push({ baseId, schema });
  }
  return out;
}
