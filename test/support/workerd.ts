import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

/** Bundles the Workers entry into `outdir` as `wrangler deploy` would (--dry-run: nothing deployed). */
export async function bundleWorker(outdir: string, timeoutMs = 90_000): Promise<void> {
  await run(join(ROOT, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' },
    timeout: timeoutMs,
  });
}

export interface Workerd {
  mf: Miniflare;
  /** Stops workerd and removes the bundle. */
  close(): Promise<void>;
}

/**
 * The Worker as deployed, in real `workerd` (Miniflare): bundled by wrangler into a temp folder,
 * run with `bindings` (and queues, for tests of the catch-up queue).
 */
export async function startWorkerd(opts: {
  bindings: Record<string, string>;
  queueProducers?: Record<string, string>;
  queueConsumers?: Record<string, { maxBatchTimeout?: number; maxRetries?: number; retryDelay?: number }>;
}): Promise<Workerd> {
  const out = mkdtempSync(join(tmpdir(), 'airmirror-workerd-'));
  const remove = () => rmSync(out, { recursive: true, force: true });
  try {
    await bundleWorker(out);
    const mf = new Miniflare({
      modules: true,
      scriptPath: join(out, 'worker.js'),
      modulesRoot: out,
      compatibilityDate: '2025-09-01',
      compatibilityFlags: ['nodejs_compat'],
      ...opts,
    });
    await mf.ready;
    return {
      mf,
      async close() {
        await mf.dispose();
        remove();
      },
    };
  } catch (err) {
    remove();
    throw err;
  }
}
