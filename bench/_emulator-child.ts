/**
 * The emulator in a child process for a benchmark (a leading `_`: bench/run.ts does not run it):
 * Airtable is not in airmirror's process, and an emulator sharing the event loop would stamp
 * requests late and take CPU the figure should not pay. The bench runs its own file again with
 * `--emulator …`; that child builds its emulator, serves it with `serveEmulatorChild`, and the
 * parent reads what it announced (its URL, and anything else the bench needs) with
 * `spawnEmulatorChild`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Emulator } from '../emulator/index.ts';
import { startEmulatorServer } from '../emulator/server.ts';

/** Serves `emulator` on a free port, announces `{ url, ...extra }` on stdout, and quits on stdin's end or SIGTERM. */
export async function serveEmulatorChild(emulator: Emulator, extra: object = {}): Promise<void> {
  const server = await startEmulatorServer(emulator, { port: 0 });
  process.stdout.write(JSON.stringify({ url: server.url, ...extra }) + '\n');
  const quit = () => void server.close().then(() => process.exit(0));
  process.stdin.on('end', quit);
  process.stdin.resume();
  process.on('SIGTERM', quit);
}

/** Runs `file` with `args` (`--emulator …`) and resolves with the child and what it announced. */
export async function spawnEmulatorChild<T extends { url: string } = { url: string }>(
  file: string,
  args: string[],
): Promise<T & { child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const announced = await new Promise<T>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`emulator exited (${code})`)));
    lines.once('line', (line) => resolve(JSON.parse(line) as T));
  });
  return { ...announced, child };
}
