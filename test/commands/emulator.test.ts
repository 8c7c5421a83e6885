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
