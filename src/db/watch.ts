import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import { isConnectionError } from './connection-errors.ts';

export interface PostgresState {
  reachable: boolean;
  /** When Postgres was last seen going away (null: never since start). */
  since: Date | null;
  /** The error that said so, one line (no connection string: pg's messages name none). */
  error: string | null;
}

export interface PostgresWatchOptions {
  /** A trivial query (pingDatabase); rejects while Postgres is away. */
  ping(): Promise<void>;
  log?: {
    warn(obj: object, msg: string): void;
    info(obj: object, msg: string): void;
  };
  /** Called once each time Postgres answers again after it was away: nudge what waits for it. */
  onRecovered?: () => void;
  /** First wait between probes while Postgres is away; doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Knows whether Postgres is there. Every part of the process already survives it going away
 * (queries fail, loops retry with backoff, the proxy queues catch-up); this only makes it visible
 * (`/healthz`, one log line when it goes and one when it is back) and shortens the wait after it
 * returns: it probes with a short growing delay and then calls `onRecovered`, so loops idling in
 * a long retry wait (LISTEN, catch-up, event delivery) go at once.
 */
export class PostgresWatch {
  private reachable = true;
  private since: Date | null = null;
  private error: string | null = null;
  private readonly loop: BackgroundLoop;
  private readonly now: () => number;

  constructor(private readonly opts: PostgresWatchOptions) {
    this.now = opts.now ?? Date.now;
    const retryMs = opts.retryMs ?? 250;
    this.loop = new BackgroundLoop({
      name: 'postgres watch',
      intervalMs: Infinity,
      retryMs,
      maxRetryMs: opts.maxRetryMs ?? 2_000,
      sleep: opts.sleep,
      // No per-probe log line: the outage is logged once when it starts and once when it ends.
      pass: async () => {
        if (this.reachable) return Infinity;
        await this.opts.ping();
        this.recovered();
        return Infinity;
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  state(): PostgresState {
    return { reachable: this.reachable, since: this.since, error: this.error };
  }

  /**
   * A connection or query failed. An error that says Postgres is away (src/db/connection-errors.ts)
   * marks it unreachable and starts probing; any other (a refused statement) says nothing about it.
   */
  noteError(err: unknown): void {
    if (!isConnectionError(err)) return;
    if (this.reachable) {
      this.reachable = false;
      this.since = new Date(this.now());
      this.error = oneLine(err);
      this.opts.log?.warn({ err: this.error }, 'Postgres is unreachable; retrying until it answers');
    }
    this.loop.nudge();
  }

  /** Postgres answered (e.g. the health check's query). */
  noteAnswer(): void {
    if (!this.reachable) this.recovered();
  }

  private recovered(): void {
    if (this.reachable) return;
    this.reachable = true;
    const downMs = this.since ? this.now() - this.since.getTime() : null;
    this.opts.log?.info({ downMs }, 'Postgres answers again');
    try {
      this.opts.onRecovered?.();
    } catch (err) {
      this.opts.log?.warn({ err: oneLine(err) }, 'resuming after the Postgres outage failed');
    }
  }
}

function oneLine(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const text = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  return text.replace(/\s+/g, ' ').slice(0, 300);
}
