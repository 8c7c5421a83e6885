import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'airmirror-worker-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('the Workers entry bundles with wrangler (deploy --dry-run)', async () => {
  const wrangler = join(root, 'node_modules/.bin/wrangler');
  await run(wrangler, ['deploy', '--dry-run', '--outdir', out], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' },
    timeout: 60_000,
  });
  const js = readdirSync(out).filter((f) => f.endsWith('.js'));
  expect(js).toEqual(['worker.js']);
  const bundle = readFileSync(join(out, js[0]), 'utf8');
  // The proxy core made it in, and no Node-only module of ours (the journal) did.
  expect(bundle).toContain('airmirror proxies only');
  expect(bundle).not.toContain('proxy-catchup.jsonl');
}, 60_000);
