import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the one Postgres server shared by this test run. */
    postgresUrl: string;
  }
}

let handle: EmbeddedPostgresHandle | undefined;
let dir: string | undefined;

/** One real Postgres per test run; each test file makes its own database on it. */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.TEST_DATABASE_URL) {
    project.provide('postgresUrl', process.env.TEST_DATABASE_URL);
    return;
  }
  dir = mkdtempSync(join(tmpdir(), 'airmirror-test-pg-'));
  handle = await startEmbeddedPostgres({ dataDir: dir, persistent: false, durable: false });
  project.provide('postgresUrl', handle.url);
}

export async function teardown(): Promise<void> {
  await handle?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
