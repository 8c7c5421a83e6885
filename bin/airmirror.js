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
await import(cli.href);
