import type pg from 'pg';
import { quoteIdent } from '../db/quote.ts';
import type { Logger } from '../log.ts';
import { abortableSleep } from './backoff.ts';

export const OUTBOX_CHANNEL = 'airmirror_outbox';

/**
 * Holds one dedicated connection that LISTENs on the outbox channel and calls `onNotify` for
 * every notification. A lost connection is re-opened with a growing delay; after each (re)connect
 * `onNotify` is called once too, because notifications sent while we were away are gone.
 */
export class OutboxListener {
  private client: pg.Client | undefined;
  private stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly newClient: () => pg.Client,
    private readonly onNotify: () => void,
    private readonly log: Logger,
    private readonly channel = OUTBOX_CHANNEL,
  ) {}

  start(): void {
    if (this.loop) return;
    this.stopping = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.client?.end().catch(() => undefined);
    await this.loop;
    this.loop = undefined;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
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
        await client.query(`LISTEN ${quoteIdent(this.channel)}`);
        this.client = client;
        failures = 0;
        this.onNotify();
        await Promise.race([lost, abortPromise(this.stopping.signal)]);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'outbox listener could not connect');
      } finally {
        this.client = undefined;
        await client.end().catch(() => undefined);
      }
      if (this.stopping.signal.aborted) break;
      failures++;
      await abortableSleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)), this.stopping.signal);
    }
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
