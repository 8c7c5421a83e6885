import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Builds dist/ (scripts/build.mjs, what `npm ci` runs through `prepare`) once per test run, so
 * tests that run the package's bin (test/e2e, test/commands/built-cli.test.ts) run the sources as
 * they are now, never a stale build.
 */
export function setup(): void {
  execFileSync(process.execPath, [join(import.meta.dirname, '..', '..', 'scripts', 'build.mjs')], {
    stdio: 'inherit',
  });
}
