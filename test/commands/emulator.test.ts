import Airtable from 'airtable';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { emulatorCommand } from '../../src/commands/emulator.ts';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { waitUntil } from '../support/wait.ts';

afterEach(() => vi.restoreAllMocks());

describe('airmirror emulator', () => {
  it('prints its URL and token, serves a 100k-record base to airtable.js, and stops on SIGINT', async () => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    const exit = emulatorCommand.run(['--port', '0', '--records', '100000'], {});
    const [, url] = await waitUntil(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out), {
      what: 'the emulator to listen',
    });
    expect(out).toContain(EMULATOR_TOKEN);
    const base = new Airtable({ apiKey: EMULATOR_TOKEN, endpointUrl: url }).base(DEMO_BASE_ID);
    const page = await base('Orders').select({ pageSize: 100 }).firstPage();
    expect(page).toHaveLength(100);
    process.emit('SIGINT', 'SIGINT');
    expect(await exit).toBe(0);
  });

  it('refuses a bad --seed with a usage error', async () => {
    await expect(emulatorCommand.run(['--seed', 'huge'], {})).rejects.toThrow(/--seed/);
  });
});

/**
 * Issue 16's rule for `airmirror emulator` too: its log (stderr) is one readable line an event on
 * a terminal, JSON when stderr is not a terminal or when AIRMIRROR_LOG_FORMAT says so.
 */
describe('airmirror emulator: its log format', () => {
  async function logOf(isTTY: boolean, env: Record<string, string>): Promise<string[]> {
    let stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    const was = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: isTTY, configurable: true });
    try {
      const exit = emulatorCommand.run(['--port', '0'], env);
      await waitUntil(() => stderr.includes('emulator listening'), { what: 'the listening line' });
      process.emit('SIGINT', 'SIGINT');
      expect(await exit).toBe(0);
    } finally {
      if (was) Object.defineProperty(process.stderr, 'isTTY', was);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
    return stderr.split('\n').filter(Boolean);
  }

  it('is pretty on a terminal', async () => {
    const lines = await logOf(true, { NO_COLOR: '1' });
    const listening = lines.find((l) => l.includes('emulator listening'))!;
    expect(() => JSON.parse(listening)).toThrow();
    expect(listening).toMatch(/^\[?\d{2}:\d{2}:\d{2}\.\d{3}/);
    expect(listening).toMatch(/INFO/);
    expect(listening).toMatch(/url.*http:\/\/127\.0\.0\.1:\d+/);
    expect(lines.some((l) => l.includes('emulator stopped'))).toBe(true);
  });

  it('is JSON off a terminal, and on one when AIRMIRROR_LOG_FORMAT=json', async () => {
    for (const [isTTY, env] of [
      [false, {}],
      [true, { AIRMIRROR_LOG_FORMAT: 'json' }],
    ] as const) {
      const lines = await logOf(isTTY, env);
      const listening = JSON.parse(lines.find((l) => l.includes('emulator listening'))!);
      expect(listening).toMatchObject({ msg: 'emulator listening', name: 'emulator', level: 30 });
      expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      vi.restoreAllMocks();
    }
  });

  it('refuses a bad AIRMIRROR_LOG_FORMAT, naming it', async () => {
    await expect(emulatorCommand.run(['--port', '0'], { AIRMIRROR_LOG_FORMAT: 'fancy' })).rejects.toThrow(
      /^AIRMIRROR_LOG_FORMAT: /,
    );
  });
});
