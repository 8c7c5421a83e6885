import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.ts';

describe('AIRMIRROR_PG_*', () => {
  it('defaults: port 5433 (not explicit), guard on, no TLS', () => {
    expect(parseConfig({}).pgEndpoint).toEqual({
      port: 5433,
      portExplicit: false,
      tlsCert: undefined,
      tlsKey: undefined,
      writeGuard: true,
    });
  });

  it('a port, off, the guard off, TLS files', () => {
    expect(parseConfig({ AIRMIRROR_PG_PORT: '6543' }).pgEndpoint).toMatchObject({
      port: 6543,
      portExplicit: true,
    });
    expect(parseConfig({ AIRMIRROR_PG_PORT: 'off' }).pgEndpoint.port).toBeNull();
    expect(parseConfig({ AIRMIRROR_PG_WRITE_GUARD: 'off' }).pgEndpoint.writeGuard).toBe(false);
    expect(
      parseConfig({ AIRMIRROR_PG_TLS_CERT: '/c.pem', AIRMIRROR_PG_TLS_KEY: '/k.pem' }).pgEndpoint,
    ).toMatchObject({ tlsCert: '/c.pem', tlsKey: '/k.pem' });
  });

  it.each([
    [{ AIRMIRROR_PG_PORT: 'five' }, /^AIRMIRROR_PG_PORT: must be a whole number/],
    [{ AIRMIRROR_PG_PORT: '70000' }, /^AIRMIRROR_PG_PORT: must be between 0 and 65535/],
    [{ AIRMIRROR_PG_TLS_CERT: '/c.pem' }, /^AIRMIRROR_PG_TLS_KEY: required/],
    [{ AIRMIRROR_PG_TLS_KEY: '/k.pem' }, /^AIRMIRROR_PG_TLS_CERT: required/],
    [{ AIRMIRROR_PG_WRITE_GUARD: 'maybe' }, /^AIRMIRROR_PG_WRITE_GUARD: must be on or off/],
  ])('%j is refused', (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
  });
});
