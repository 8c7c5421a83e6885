import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopback, parseConfig, parseProxyConfig, schemaNameProblem } from '../src/config.ts';

/** 32 characters of a random secret, as the checks want (`openssl rand -base64 24`). */
const KEY = 'q3V8mX1rT0bZk7LwN2cYp5HsJ9dFgA4e';
const TOKEN = 'c0ffee5a1b2c3d4e5f60718293a4b5c6';

describe('parseConfig', () => {
  it('with nothing set runs the demo on loopback', () => {
    const c = parseConfig({});
    expect(c.demo).toBe(true);
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8787);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.airtableApiUrl).toBe('https://api.airtable.com');
    expect(c.bases).toEqual([]);
  });

  it('parses bases with and without a schema', () => {
    const c = parseConfig({
      AIRTABLE_TOKEN: 'pat',
      AIRTABLE_BASES: 'appAAAAAAAAAAAAAA, appBBBBBBBBBBBBBB:crm',
      AIRMIRROR_SECRET_KEY: KEY,
    });
    expect(c.demo).toBe(false);
    expect(c.bases).toEqual([
      { baseId: 'appAAAAAAAAAAAAAA', schema: 'public' },
      { baseId: 'appBBBBBBBBBBBBBB', schema: 'crm' },
    ]);
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    [
      'two bases into one schema',
      {
        AIRTABLE_TOKEN: 'p',
        AIRMIRROR_SECRET_KEY: KEY,
        AIRTABLE_BASES: 'appAAAAAAAAAAAAAA,appBBBBBBBBBBBBBB',
      },
      /^AIRTABLE_BASES: .*both map to schema "public"/,
    ],
    ['an unparsable URL', { DATABASE_URL: 'not a url' }, /^DATABASE_URL: is not a parsable URL/],
    ['a non-postgres URL', { DATABASE_URL: 'http://x' }, /^DATABASE_URL: must be a postgres:/],
    ['an unknown option', { AIRMIRROR_SECERT_KEY: 'x' }, /^AIRMIRROR_SECERT_KEY: unknown option/],
    [
      'a bad base id',
      { AIRTABLE_TOKEN: 'p', AIRMIRROR_SECRET_KEY: KEY, AIRTABLE_BASES: 'nope' },
      /AIRTABLE_BASES/,
    ],
    ['bases without a token', { AIRTABLE_BASES: 'appAAAAAAAAAAAAAA' }, /^AIRTABLE_TOKEN: required/],
    ['a public host without an admin token', { HOST: '0.0.0.0' }, /^AIRMIRROR_ADMIN_TOKEN: required/],
    ['a non-numeric port', { PORT: 'eighty' }, /^PORT: must be a whole number/],
    [
      'a name that only starts like a loopback address',
      { HOST: '127.evil.example' },
      /^AIRMIRROR_ADMIN_TOKEN: required when HOST \(127\.evil\.example\) is not a loopback address/,
    ],
    [
      'a 1-character admin token',
      { AIRMIRROR_ADMIN_TOKEN: 'x' },
      /^AIRMIRROR_ADMIN_TOKEN: must be at least 32 characters of a random secret \(got 1\): shorter ones can be guessed/,
    ],
    [
      'a placeholder admin token',
      { AIRMIRROR_ADMIN_TOKEN: 'changeme'.repeat(4) },
      /^AIRMIRROR_ADMIN_TOKEN: looks like a placeholder, not a random secret/,
    ],
    [
      'a 16-character secret key',
      { AIRTABLE_TOKEN: 'p', AIRMIRROR_SECRET_KEY: 'sixteen-chars-ok' },
      /^AIRMIRROR_SECRET_KEY: must be at least 32 characters of a random secret \(got 16\)/,
    ],
    [
      'a secret key of one repeated character',
      { AIRTABLE_TOKEN: 'p', AIRMIRROR_SECRET_KEY: 'k'.repeat(40) },
      /^AIRMIRROR_SECRET_KEY: looks like a placeholder/,
    ],
    [
      'information_schema as a schema',
      {
        AIRTABLE_TOKEN: 'p',
        AIRMIRROR_SECRET_KEY: KEY,
        AIRTABLE_BASES: 'appAAAAAAAAAAAAAA:information_schema',
      },
      /^AIRTABLE_BASES: schema "information_schema" is reserved: a Postgres system schema/,
    ],
    [
      'a pg_ schema',
      { AIRTABLE_TOKEN: 'p', AIRMIRROR_SECRET_KEY: KEY, AIRTABLE_BASES: 'appAAAAAAAAAAAAAA:pg_mirror' },
      /^AIRTABLE_BASES: schema "pg_mirror" is reserved/,
    ],
    [
      "airmirror's own schema",
      { AIRTABLE_TOKEN: 'p', AIRMIRROR_SECRET_KEY: KEY, AIRTABLE_BASES: 'appAAAAAAAAAAAAAA:airmirror' },
      /^AIRTABLE_BASES: schema "airmirror" is reserved: airmirror's own bookkeeping schema/,
    ],
    [
      "a schema that is another one's rebuild scratch space",
      {
        AIRTABLE_TOKEN: 'p',
        AIRMIRROR_SECRET_KEY: KEY,
        AIRTABLE_BASES: 'appAAAAAAAAAAAAAA:crm,appBBBBBBBBBBBBBB:crm_swap',
      },
      /^AIRTABLE_BASES: schema "crm_swap" is reserved: <schema>_swap is where a rebuild builds/,
    ],
    [
      'a metrics switch that is neither on nor off',
      { AIRMIRROR_METRICS_PUBLIC: 'sometimes' },
      /^AIRMIRROR_METRICS_PUBLIC: /,
    ],
    ['no secret key outside demo', { AIRTABLE_TOKEN: 'p' }, /^AIRMIRROR_SECRET_KEY: required/],
  ];
  for (const [what, env, message] of bad) {
    it(`refuses ${what} with one line naming the variable`, () => {
      let err: unknown;
      try {
        parseConfig(env);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    });
  }
});

describe('loopback, decided by parsing the address', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '::1',
    '[::1]',
    'localhost',
    'LOCALHOST',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
  ])('%s is loopback: no admin token needed', (host) => {
    expect(isLoopback(host)).toBe(true);
    expect(parseConfig({ HOST: host }).host).toBe(host);
  });

  it.each([
    '127.evil.example',
    '127.0.0.1.nip.io',
    'localhost.evil.example',
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '128.0.0.1',
    '127.0.0.256',
    '127.000.0.1',
    '::2',
    '[::1]x',
  ])('%s is not loopback', (host) => {
    expect(isLoopback(host)).toBe(false);
    expect(() => parseConfig({ HOST: host })).toThrow(/^AIRMIRROR_ADMIN_TOKEN: required/);
    expect(parseConfig({ HOST: host, AIRMIRROR_ADMIN_TOKEN: TOKEN }).adminToken).toBe(TOKEN);
  });
});

describe('secrets of 32 characters and more', () => {
  it('takes a random admin token and secret key of 32 characters', () => {
    const c = parseConfig({ AIRTABLE_TOKEN: 'p', AIRMIRROR_SECRET_KEY: KEY, AIRMIRROR_ADMIN_TOKEN: TOKEN });
    expect(c.secretKey).toBe(KEY);
    expect(c.adminToken).toBe(TOKEN);
    expect(() => parseConfig({ AIRMIRROR_ADMIN_TOKEN: TOKEN.slice(1) })).toThrow(/got 31/);
  });

  it('never repeats the secret in the error', () => {
    const secret = 'short-secret-value';
    for (const env of [
      { AIRTABLE_TOKEN: 'p', AIRMIRROR_SECRET_KEY: secret },
      { AIRMIRROR_ADMIN_TOKEN: secret },
      { AIRTABLE_TOKEN: 'p', AIRMIRROR_SECRET_KEY: 'ab'.repeat(20) },
    ]) {
      let message = '';
      try {
        parseConfig(env);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^AIRMIRROR_(SECRET_KEY|ADMIN_TOKEN): /);
      expect(message).not.toContain(secret);
      expect(message).not.toContain('abab');
    }
  });
});

describe('schema names', () => {
  it('refuses the reserved ones and takes the rest', () => {
    for (const bad of [
      'information_schema',
      'pg_catalog',
      'pg_toast',
      'airmirror',
      'public_swap',
      'Bad-Name',
    ])
      expect(schemaNameProblem(bad)).toBeDefined();
    for (const ok of ['public', 'crm', 'swap', 'swap_public', 'pgx', 'airmirror_data'])
      expect(schemaNameProblem(ok)).toBeUndefined();
  });
});

describe('AIRMIRROR_METRICS_PUBLIC', () => {
  it('is off by default', () => {
    expect(parseConfig({}).metricsPublic).toBe(false);
    expect(parseConfig({ AIRMIRROR_METRICS_PUBLIC: 'true' }).metricsPublic).toBe(true);
  });
});

describe('AIRMIRROR_PG_PREPARED_STATEMENTS', () => {
  it('is on by default and can be switched off', () => {
    expect(parseConfig({}).pgPreparedStatements).toBe(true);
    expect(parseConfig({ AIRMIRROR_PG_PREPARED_STATEMENTS: 'off' }).pgPreparedStatements).toBe(false);
    expect(() => parseConfig({ AIRMIRROR_PG_PREPARED_STATEMENTS: 'maybe' })).toThrow(
      /^AIRMIRROR_PG_PREPARED_STATEMENTS: must be on or off/,
    );
  });
});

describe('parseProxyConfig (the Workers entry)', () => {
  it('reads the proxy settings with the defaults of parseConfig', () => {
    const full = parseConfig({});
    expect(parseProxyConfig({})).toEqual({
      databaseUrl: undefined,
      airtableApiUrl: full.airtableApiUrl,
      upstreamTimeoutMs: full.upstreamTimeoutMs,
      maxBodyBytes: full.maxBodyBytes,
      pgPreparedStatements: full.pgPreparedStatements,
      rateLimitPerSecond: full.rateLimitPerSecond,
    });
    expect(full.maxBodyBytes).toBe(5 * 1024 * 1024);
    const env = {
      DATABASE_URL: 'postgres://u:p@db.example/x',
      AIRTABLE_API_URL: 'https://emulator.example/',
      AIRMIRROR_UPSTREAM_TIMEOUT_MS: '5000',
      AIRMIRROR_MAX_BODY_BYTES: '2000000',
      AIRMIRROR_PG_PREPARED_STATEMENTS: 'off',
      AIRMIRROR_RATE_LIMIT: '3',
    };
    expect(parseProxyConfig(env)).toEqual({
      databaseUrl: 'postgres://u:p@db.example/x',
      airtableApiUrl: 'https://emulator.example',
      upstreamTimeoutMs: 5000,
      maxBodyBytes: 2_000_000,
      pgPreparedStatements: false,
      rateLimitPerSecond: 3,
    });
    expect(parseConfig(env)).toMatchObject(parseProxyConfig(env));
  });

  it('does not require what only airmirror start needs', () => {
    const env = { HOST: '0.0.0.0', AIRTABLE_TOKEN: 'p', AIRTABLE_BASES: 'nope' };
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(parseProxyConfig(env).airtableApiUrl).toBe('https://api.airtable.com');
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ['an unknown option', { AIRMIRROR_MAX_BODY: '1' }, /^AIRMIRROR_MAX_BODY: unknown option/],
    ['a body limit that is not a number', { AIRMIRROR_MAX_BODY_BYTES: '2MB' }, /^AIRMIRROR_MAX_BODY_BYTES: /],
    ['a timeout out of range', { AIRMIRROR_UPSTREAM_TIMEOUT_MS: '0' }, /^AIRMIRROR_UPSTREAM_TIMEOUT_MS: /],
    ['a non-postgres URL', { DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: must be a postgres:/],
    ['an upstream that is not http', { AIRTABLE_API_URL: 'ftp://x' }, /^AIRTABLE_API_URL: /],
  ];
  for (const [what, env, message] of bad) {
    it(`refuses ${what} with one line naming the variable`, () => {
      expect(() => parseProxyConfig(env)).toThrow(ConfigError);
      expect(() => parseProxyConfig(env)).toThrow(message);
      try {
        parseProxyConfig(env);
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
      }
    });
  }
});
