#!/usr/bin/env node
// The package's `bin`: the CLI as built into dist/ by `npm run build` (npm install and npm ci run
// it through `prepare`), so no command compiles TypeScript at start. In development,
// `npm run airmirror -- <command>` runs the sources through tsx instead.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('airmirror: dist/cli.js is missing; run "npm run build" (npm install does it)\n');
  process.exit(1);
}
// Node 21+ defines navigator.userAgent ("Node.js/<major>"); Node 20 does not, and without it pg
// (lib/stream.js) asks a `new Response(…)` whether it runs on Cloudflare Workers, which loads
// Node's whole fetch implementation at every start of every command. The same value Node 21 sets.
globalThis.navigator ??= { userAgent: `Node.js/${process.versions.node.split('.')[0]}` };
await import(cli.href);
