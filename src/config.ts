/**
 * The environment, parsed once into typed settings by a pure function over an injected env
 * (no reads of `process.env` anywhere else). Bad configuration throws a ConfigError whose
 * message is one line naming the variable, so start-up stops before anything is started.
 */

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
  /** No bases and no token: run the built-in emulator with the demo base. */
  demo: boolean;
  logLevel: string;
  hashCacheSize: number;
  /** Requests per second per base shared by every component (Airtable allows 5). */
  rateLimitPerSecond: number;
  /** How long bookkeeping rows are kept (src/bookkeeping/retention.ts), in ms. */
  retention: { fenceMs: number; runsMs: number; outboxMs: number; deadLettersMs: number };
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
  'AIRMIRROR_UPSTREAM_TIMEOUT_MS',
  'AIRMIRROR_MAX_BODY_BYTES',
  'AIRMIRROR_HASH_CACHE_SIZE',
  'AIRMIRROR_RATE_LIMIT',
  'AIRMIRROR_PG_PREPARED_STATEMENTS',
  'AIRMIRROR_FENCE_RETENTION_HOURS',
  'AIRMIRROR_RUN_RETENTION_DAYS',
  'AIRMIRROR_OUTBOX_RETENTION_HOURS',
  'AIRMIRROR_DEAD_LETTER_RETENTION_DAYS',
]);

const BASE_ID = /^app[A-Za-z0-9]{14}$/;
// Leaves room for the `_swap` suffix within Postgres' 63-byte identifier limit.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,57}$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
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

  const secretKey = optional(env, 'AIRMIRROR_SECRET_KEY');
  if (!demo && !secretKey) {
    throw new ConfigError('AIRMIRROR_SECRET_KEY', 'required outside demo mode (it encrypts stored tokens)');
  }
  if (secretKey !== undefined && secretKey.length < 16) {
    throw new ConfigError('AIRMIRROR_SECRET_KEY', 'must be at least 16 characters');
  }

  const logLevel = optional(env, 'AIRMIRROR_LOG_LEVEL') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('AIRMIRROR_LOG_LEVEL', `unknown level "${logLevel}"`);
  }

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
    hashCacheSize: integer(env, 'AIRMIRROR_HASH_CACHE_SIZE', 1_000_000, 0, 100_000_000),
    rateLimitPerSecond: integer(env, 'AIRMIRROR_RATE_LIMIT', 5, 1, 1000),
    retention: {
      fenceMs: integer(env, 'AIRMIRROR_FENCE_RETENTION_HOURS', 168, 1, 87_600) * HOUR_MS,
      runsMs: integer(env, 'AIRMIRROR_RUN_RETENTION_DAYS', 30, 1, 3_650) * DAY_MS,
      outboxMs: integer(env, 'AIRMIRROR_OUTBOX_RETENTION_HOURS', 1, 1, 87_600) * HOUR_MS,
      deadLettersMs: integer(env, 'AIRMIRROR_DEAD_LETTER_RETENTION_DAYS', 30, 1, 3_650) * DAY_MS,
    },
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
    if (!SCHEMA_NAME.test(schema) || schema === 'airmirror' || schema.startsWith('pg_')) {
      throw new ConfigError('AIRTABLE_BASES', `"${schema}" is not a usable schema name`);
    }
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
