/**
 * `npm run build` (also run by `npm install` / `npm ci` through `prepare`): bundles the CLI into
 * dist/, which the package's bin (bin/airmirror.js) runs, so no command compiles TypeScript at
 * start. esbuild, not tsc: the same start-up time (measured side by side, bench/cli-start.ts) from
 * a build that takes half a second instead of a minute. Each command is its own chunk (code
 * splitting on the dynamic imports of src/commands/index.ts): `airmirror status` loads the
 * bookkeeping and the Postgres client, never the proxy, the syncer or the emulator. Packages stay
 * external (node_modules is there at run time). Plain JavaScript, so it runs before anything else.
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist');

// Chunk names carry content hashes: a stale chunk of an earlier build must not linger.
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/cli.ts'],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: 'linked',
  logLevel: 'warning',
});
