import type pg from 'pg';
import {
  heartbeat,
  listenOwnership,
  OWNERSHIP_CHANNEL,
  registerProcess,
  sessionSettings,
  type ProcessIdentity,
} from '../src/bookkeeping/ownership.ts';
import type { Database, Queryable } from '../src/db/database.ts';

/** A statement (src/db/sql.ts's Sql, named through the seam that runs it). */
type Sql = Parameters<Queryable['query']>[0];
import type { Logger } from '../src/log.ts';
import { oneLine } from './one-line.ts';

export interface SessionDeps {
  db: Pick<Database, 'dedicatedClient'>;
  identity: ProcessIdentity;
  log: Logger;
  now: () => number;
  /**
   * The server ends the session when it hears nothing for this long (idle_session_timeout, with
   * TCP keepalives and tcp_user_timeout for a peer that vanished), which frees every base lock.
   */
  idleTimeoutMs: number;
  /**
   * The process gives its bases up by itself this long before the server could free them: when no
   * heartbeat sent within `idleTimeoutMs - marginMs` was answered (Postgres cut off, or slow).
   */
  marginMs: number;
  /** The session is gone (its locks with it); `why` is one line. */
  onLost(why: string): void;
  /** A NOTIFY on the ownership channel from another process (or this one). */
  onNotify(payload: string): void;
}

/**
 * The ownership session: one connection of its own that holds the base locks and the process's
 * alive lock, sends the heartbeat, and LISTENs for the other processes. When it fails, ends, or
 * stays silent too long, everything it held is gone at once: `onLost` says so and the manager
 * stops the work of those bases.
 */
export class OwnershipSession {
  private client: pg.Client | undefined;
  private lastAnswered = 0;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private settingsWarned = false;
  /** One open (or reopen) at a time: bases entered together must not each open a session. */
  private connecting: Promise<void> | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  backendPid = 0;

  constructor(private readonly deps: SessionDeps) {}

  get open(): boolean {
    return this.client !== undefined;
  }

  /**
   * The session as a Queryable (only while open). Statements run one after another: bases are
   * taken and let go concurrently, and one connection runs one query at a time.
   */
  readonly q: Queryable = {
    query: <R extends pg.QueryResultRow>(s: Sql) => {
      const c = this.client;
      if (!c) return Promise.reject(new Error('the ownership session is not open'));
      const run = this.tail.then(() => c.query<R>({ text: s.text, values: s.values }));
      this.tail = run.catch(() => undefined);
      return run;
    },
  };

  /** Opens the session (one attempt; concurrent callers share it). */
  connect(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.openSession().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async openSession(): Promise<void> {
    const { deps } = this;
    const client = deps.db.dedicatedClient();
    const lose = (why: string) => {
      if (this.client === client) this.drop(why);
    };
    // Every event handled: a lost session must never end the process.
    client.on('error', (err) => lose(`ownership session failed: ${oneLine(err)}`));
    client.on('end', () => lose('ownership session ended'));
    client.on('notification', (n) => {
      if (n.channel === OWNERSHIP_CHANNEL && n.payload) deps.onNotify(n.payload);
    });
    const sent = deps.now();
    const q: Queryable = { query: (s) => client.query({ text: s.text, values: s.values }) };
    try {
      await client.connect();
      for (const s of sessionSettings(deps.idleTimeoutMs)) {
        // Older servers lack some of them (idle_session_timeout is Postgres 14+); the heartbeat's
        // own deadline still holds.
        await q.query(s).catch((err: unknown) => {
          if (!this.settingsWarned) deps.log.warn({ err: oneLine(err) }, 'ownership session setting refused');
          this.settingsWarned = true;
        });
      }
      this.backendPid = await registerProcess(q, deps.identity);
      await q.query(listenOwnership());
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    // A statement stuck on the old connection must not hold up the new one.
    this.tail = Promise.resolve();
    this.lastAnswered = sent;
    this.watchdog = setInterval(() => this.check(), Math.max(100, Math.min(1000, deps.marginMs / 4)));
    this.watchdog.unref?.();
  }

  /** One heartbeat; throws (and the session is dropped) when it fails. */
  async beat(): Promise<void> {
    const sent = this.deps.now();
    try {
      if (!(await heartbeat(this.q, this.deps.identity.id))) {
        // Our row went away (deleted by hand): register again on this session.
        this.backendPid = await registerProcess(this.q, this.deps.identity);
      }
    } catch (err) {
      if (this.client) this.drop(`heartbeat failed: ${oneLine(err)}`);
      throw err;
    }
    this.lastAnswered = Math.max(this.lastAnswered, sent);
  }

  /** Ends the session (its locks go with it); no `onLost`. */
  async close(): Promise<void> {
    const c = this.client;
    this.stopWatchdog();
    this.client = undefined;
    if (c) await endWithin(c, 2000);
  }

  /** The session stopped being ours: forget it, close it without waiting, tell the manager. */
  drop(why: string): void {
    const c = this.client;
    if (!c) return;
    this.client = undefined;
    this.stopWatchdog();
    void endWithin(c, 2000);
    this.deps.log.warn({ why }, 'ownership session lost; its bases are given up');
    this.deps.onLost(why);
  }

  /** Silent too long: the server may free our locks soon, so we stop before it does. */
  private check(): void {
    const silentFor = this.deps.now() - this.lastAnswered;
    if (this.client && silentFor > this.deps.idleTimeoutMs - this.deps.marginMs) {
      this.drop(`no heartbeat answered for ${Math.round(silentFor / 1000)} s`);
    }
  }

  private stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}

/** `end()` politely; a socket that does not close in time (network gone) is destroyed. */
async function endWithin(c: pg.Client, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const destroy = () =>
    (c as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
  await Promise.race([
    c.end().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        destroy();
        resolve();
      }, ms);
      timer.unref?.();
    }),
  ]);
  if (timer) clearTimeout(timer);
}
