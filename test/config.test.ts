import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseProxyConfig } from '../src/config.ts';

const KEY = 'k'.repeat(32);

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
