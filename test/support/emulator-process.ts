import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { EMULATOR_TOKEN, type EmulatorCall, type FaultSpec } from '../../emulator/index.ts';
import { waitUntil } from './wait.ts';

const BIN = join(import.meta.dirname, '../../bin/airmirror.js');

/**
 * The emulator in a child process of its own (`airmirror emulator`), steered over its HTTP control
 * surface: for tests whose verdict is the emulator's clock (its rate limit counts arrivals), so
 * the arrival times are stamped by an event loop that is not also running the code under test.
 */
export interface EmulatorProcess {
  url: string;
  calls(filter?: { base?: string; path?: string; method?: string }): Promise<EmulatorCall[]>;
  clearCalls(): Promise<void>;
  fail(spec: FaultSpec): Promise<void>;
  close(): Promise<void>;
}

export async function startEmulatorProcess(
  opts: { rateLimit?: number; records?: number } = {},
): Promise<EmulatorProcess> {
  const args = [BIN, 'emulator', '--port', '0', '--records', String(opts.records ?? 40)];
  if (opts.rateLimit) args.push('--rate-limit', String(opts.rateLimit));
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AIRMIRROR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const [, url] = await waitUntil(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out), {
    what: 'the emulator process to listen',
    timeoutMs: 60_000,
  });
  // Airtable is not a Node process that has just started: warm the emulator's HTTP and handler
  // code (and this process's fetch) with calls that address no base, so the first counted calls
  // are not stamped late by cold code.
  await Promise.all(
    [...Array(20)].map(() =>
      fetch(`${url}/v0/meta/whoami`, { headers: { authorization: `Bearer ${EMULATOR_TOKEN}` } }).then((r) =>
        r.arrayBuffer(),
      ),
    ),
  );
  const control = (path: string, init?: RequestInit) =>
    fetch(`${url}/__emulator${path}`, {
      ...init,
      headers: { 'content-type': 'application/json' },
    }).then(async (r) => {
      if (!r.ok) throw new Error(`emulator control ${path}: ${r.status} ${await r.text()}`);
      return r;
    });
  await control('/calls', { method: 'DELETE' });
  return {
    url,
    async calls(filter = {}) {
      const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== undefined) as string[][]);
      const r = await control(`/calls?${q}`);
      return ((await r.json()) as { calls: EmulatorCall[] }).calls;
    },
    clearCalls: async () => void (await control('/calls', { method: 'DELETE' })),
    fail: async (spec) => void (await control('/faults', { method: 'POST', body: JSON.stringify(spec) })),
    async close() {
      child.kill('SIGINT');
      await exited;
    },
  };
}
