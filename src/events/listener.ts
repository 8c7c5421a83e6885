import type pg from 'pg';
import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import { untilAborted } from '../lifecycle/clock.ts';
import type { Logger } from '../log.ts';
import { listenTo } from './store.ts';

export const OUTBOX_CHANNEL = 'airmirror_outbox';

/** The first wait before re-connecting; it doubles with each failed attempt in a row, up to 5 s. */
const RECONNECT_MS = 500;
/**
 * Short, because a missed notification costs latency, not correctness (the deliverer also polls,
 * and every reconnect re-scans the outbox); an attempt costs one refused or timed-out connect.
 */
const MAX_RECONNECT_MS = 5_000;

/**
 * Holds one dedicated connection that LISTENs on the outbox channel and calls `onNotify` for
 * every notification. A lost connection is re-opened with a growing delay; after each (re)connect
 * `onNotify` is called once too, because notifications sent while we were away are gone.
 */
export class OutboxListener {
  private readonly loop: BackgroundLoop;

  constructor(
    private readonly newClient: () => pg.Client,
    private readonly onNotify: () => void,
    private readonly log: Logger,
    private readonly channel = OUTBOX_CHANNEL,
  ) {
    this.loop = new BackgroundLoop({
      name: 'outbox listener',
      intervalMs: RECONNECT_MS,
      retryMs: RECONNECT_MS,
      maxRetryMs: MAX_RECONNECT_MS,
      log,
      pass: (signal) => this.listen(signal),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Ends the connection and resolves once it is closed. */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /**
   * One connection, from connect until it is lost or the loop stops. A failure to connect is the
   * pass's failure (retried with a growing delay); a connection lost after it listened resolves,
   * and the loop re-connects after RECONNECT_MS.
   */
  private async listen(signal: AbortSignal): Promise<void> {
    const client = this.newClient();
    const lost = new Promise<void>((resolve) => {
      client.on('error', (err) => {
        this.log.warn({ err: err.message }, 'outbox listener connection failed');
        resolve();
      });
      client.on('end', () => resolve());
    });
    try {
      await client.connect();
      client.on('notification', () => this.onNotify());
      await client.query(listenTo(this.channel));
      this.onNotify();
      await Promise.race([lost, untilAborted(signal)]);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
