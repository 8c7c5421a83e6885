/**
 * What a person at a terminal reads (issue 16): `start` logs one readable line per event, in
 * colour on a terminal, JSON when the output is not a terminal or when AIRMIRROR_LOG_FORMAT says
 * so; secrets are redacted in both; the start banner never shows a password the operator supplied.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { banner } from '../../src/commands/start.ts';
import { ConfigError, parseConfig } from '../../src/config.ts';
import {
  createCommandLogger,
  logFormatFor,
  printableDatabaseUrl,
  withoutSuppliedPassword,
} from '../../src/log.ts';
import type { RunningAirmirror } from '../../src/node.ts';

/** A stream that keeps what is written, and says whether it is a terminal. */
function capture(isTTY: boolean) {
  const chunks: string[] = [];
  const out = Object.assign(
    new Writable({
      write(chunk, _enc, done) {
        chunks.push(String(chunk));
        done();
      },
    }),
    { isTTY },
  );
  return { out, text: () => chunks.join(''), lines: () => chunks.join('').split('\n').filter(Boolean) };
}

const ESC = '\x1b[';

describe('log format', () => {
  it('is pretty on a terminal: one coloured line per event, with its fields, secrets redacted', async () => {
    const c = capture(true);
    const log = await createCommandLogger({ out: c.out, level: 'info', env: {} });
    log.info({ table: 'orders', records: 250, token: 'pat-SECRET-TOKEN' }, 'sync run');
    log.warn({ source: 'appX', err: 'Airtable answered 503' }, 'table sync failed');
    log.error({ err: new Error('boom') }, 'stop failed');
    const lines = c.lines();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('sync run');
    expect(lines[0]).toMatch(/table.*orders/);
    expect(lines[0]).toMatch(/records.*250/);
    expect(lines[0]).toContain('[redacted]');
    expect(c.text()).not.toContain('pat-SECRET-TOKEN');
    expect(lines[1]).toMatch(/WARN/);
    expect(lines[1]).toContain('table sync failed');
    expect(lines[1]).toContain('Airtable answered 503');
    expect(lines[2]).toMatch(/ERROR.*stop failed.*boom/);
    expect(c.text()).toContain(ESC);
    // Not JSON: a person reads it.
    expect(() => JSON.parse(lines[0])).toThrow();
    expect(lines[0]).toMatch(/^\S*\[?\d{2}:\d{2}:\d{2}\.\d{3}/);
  });

  it('drops the colours when NO_COLOR is set, or when pretty is asked for off a terminal', async () => {
    const noColor = capture(true);
    (await createCommandLogger({ out: noColor.out, level: 'info', env: { NO_COLOR: '1' } })).info('hello');
    expect(noColor.text()).toContain('hello');
    expect(noColor.text()).not.toContain(ESC);
    const piped = capture(false);
    (await createCommandLogger({ out: piped.out, level: 'info', format: 'pretty', env: {} })).info('hello');
    expect(piped.lines()).toHaveLength(1);
    expect(piped.text()).not.toContain(ESC);
    expect(() => JSON.parse(piped.lines()[0])).toThrow();
  });

  it('is JSON off a terminal, and on one when asked; redacted the same way', async () => {
    const piped = capture(false);
    (await createCommandLogger({ out: piped.out, level: 'info', env: {} })).info(
      { token: 'pat-SECRET' },
      'sync run',
    );
    const line = JSON.parse(piped.lines()[0]);
    expect(line).toMatchObject({ msg: 'sync run', token: '[redacted]', level: 30, name: 'airmirror' });
    const asked = capture(true);
    (await createCommandLogger({ out: asked.out, level: 'info', format: 'json', env: {} })).info('x');
    expect(JSON.parse(asked.lines()[0]).msg).toBe('x');
    expect(asked.text()).not.toContain(ESC);
    expect(logFormatFor(undefined, { isTTY: true })).toBe('pretty');
    expect(logFormatFor(undefined, {})).toBe('json');
    expect(logFormatFor('json', { isTTY: true })).toBe('json');
  });

  it('keeps the level: debug lines are not written at info', async () => {
    const c = capture(true);
    const log = await createCommandLogger({ out: c.out, level: 'info', env: {} });
    log.debug('hidden');
    log.info('shown');
    expect(c.lines()).toHaveLength(1);
    expect(c.text()).toContain('shown');
  });

  it('AIRMIRROR_LOG_FORMAT is json or pretty; anything else is one line naming it', () => {
    const base = { AIRMIRROR_DATA_DIR: '/tmp/x' };
    expect(parseConfig(base).logFormat).toBeUndefined();
    expect(parseConfig({ ...base, AIRMIRROR_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(parseConfig({ ...base, AIRMIRROR_LOG_FORMAT: 'JSON' }).logFormat).toBe('json');
    expect(() => parseConfig({ ...base, AIRMIRROR_LOG_FORMAT: 'fancy' })).toThrow(ConfigError);
    expect(() => parseConfig({ ...base, AIRMIRROR_LOG_FORMAT: 'fancy' })).toThrow(/^AIRMIRROR_LOG_FORMAT: /);
  });
});

describe('the start banner', () => {
  const running = (databaseUrl: string, supplied: string | undefined, demo: boolean) =>
    ({
      url: 'http://127.0.0.1:8787',
      databaseUrl,
      config: { ...parseConfig({ AIRMIRROR_DATA_DIR: '/tmp/x' }), databaseUrl: supplied, demo },
      emulator: demo
        ? { url: 'http://127.0.0.1:9999', token: 'emulator-token', baseId: 'appDEMO0000000000' }
        : undefined,
    }) as unknown as RunningAirmirror;

  it('never shows a password the operator supplied in DATABASE_URL', () => {
    const url = 'postgres://mirror:S3cr%40t-pw@db.internal:5432/mirror';
    const text = banner(running(url, url, false));
    expect(text).not.toContain('S3cr');
    expect(text).toContain('psql "postgres://mirror@db.internal:5432/mirror"');
    // The demo's instructions too, when the operator pointed the demo at their own Postgres.
    const demo = banner(running(url, url, true));
    expect(demo).not.toContain('S3cr');
    expect(demo).toContain('psql "postgres://mirror@db.internal:5432/mirror" -c');
  });

  it("shows the demo's own generated password: the psql line must work as printed", () => {
    const url = 'postgres://postgres:generated-pw@127.0.0.1:5544/postgres';
    const text = banner(running(url, undefined, true));
    expect(text).toContain(`psql "${url}"`);
    expect(text).toContain(`psql "${url}" -c`);
  });

  it('takes the supplied password out of every connection string, whichever line prints it', () => {
    const supplied = 'postgres://mirror:S3cr%40t-pw@db.internal:5432/mirror';
    // As a line printing another URL of the same credentials would (the Postgres endpoint's).
    const text = [
      `  postgres     psql "${supplied}"`,
      '  endpoint     psql "postgres://mirror:S3cr%40t-pw@127.0.0.1:5433/mirror"',
      '  decoded      postgres://mirror:S3cr@t-pw@127.0.0.1:5433/mirror',
      '  other        postgres://someone:else@elsewhere/db',
    ].join('\n');
    const shown = withoutSuppliedPassword(text, supplied);
    expect(shown).not.toContain('S3cr');
    expect(shown).toContain('psql "postgres://mirror@db.internal:5432/mirror"');
    expect(shown).toContain('psql "postgres://mirror@127.0.0.1:5433/mirror"');
    expect(shown).toContain('postgres://someone:else@elsewhere/db');
    // Nothing supplied, or supplied without a password: the text as it is (the demo's is shown).
    expect(withoutSuppliedPassword(text, undefined)).toBe(text);
    expect(withoutSuppliedPassword(text, 'postgres://mirror@db.internal/mirror')).toBe(text);
  });

  it('printableDatabaseUrl keeps everything but the password', () => {
    expect(printableDatabaseUrl('postgres://u:p@h:1/d?sslmode=require', true)).toBe(
      'postgres://u@h:1/d?sslmode=require',
    );
    expect(printableDatabaseUrl('postgres://u:p@h:1/d', false)).toBe('postgres://u:p@h:1/d');
    expect(printableDatabaseUrl('not a url', true)).toBe('[unparsable url]');
  });
});
