import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { bundleWorker } from '../support/workerd.ts';

const out = mkdtempSync(join(tmpdir(), 'airmirror-worker-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('the Workers entry bundles with wrangler (deploy --dry-run)', async () => {
  await bundleWorker(out, 60_000);
  const js = readdirSync(out).filter((f) => f.endsWith('.js'));
  expect(js).toEqual(['worker.js']);
  const bundle = readFileSync(join(out, js[0]), 'utf8');
  // The proxy core made it in, and no Node-only module of ours (the journal) did.
  expect(bundle).toContain('airmirror proxies only');
  expect(bundle).not.toContain('proxy-catchup.jsonl');
}, 60_000);
