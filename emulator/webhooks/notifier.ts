import type { EmulatorClock } from '../clock.ts';
import type { Hook, NotificationResult } from './hook.ts';
import { MAC_HEADER, signPing } from './mac.ts';

export interface NotifierOptions {
  /** Changes arriving within this many (wall-clock) ms share one ping. */
  coalesceMs: number;
  /** Retries after the first failed ping (docs/airtable-reference.md §4.4: up to 13). */
  maxRetries: number;
  /** First retry delay on the emulator clock; doubles each time (docs/airtable-reference.md §4.4: 10 s). */
  firstRetryMs: number;
  /** A ping taking longer than this fails (docs/airtable-reference.md §4.4: 25 s). */
  timeoutMs: number;
}

export const DEFAULT_NOTIFIER_OPTIONS: NotifierOptions = {
  coalesceMs: 20,
  maxRetries: 13,
  firstRetryMs: 10_000,
  timeoutMs: 25_000,
};

interface PingState {
  timer?: ReturnType<typeof setTimeout>;
  inFlight?: Promise<void>;
  /** A change arrived while a ping was in flight: ping again afterwards. */
  again: boolean;
  /** A failed ping waiting for its retry, due at `dueAt` on the emulator clock. */
  retry?: { number: number; dueAt: number };
}

/**
 * Sends the pings of every hook (docs/airtable-reference.md §4.4):
 * `{"base":{"id"},"webhook":{"id"},"timestamp"}` POSTed to `notificationUrl`, signed with
 * `X-Airtable-Content-MAC`, through the injected fetch. Bursts are coalesced; failures are retried on the
 * emulator clock with exponential backoff and, when the retries are exhausted, notifications are disabled for
 * the hook.
 */
export class PingNotifier {
  private readonly state = new Map<string, PingState>();

  constructor(
    private readonly fetchFn: typeof fetch,
    private readonly clock: EmulatorClock,
    private readonly opts: NotifierOptions,
    private readonly isActive: (hook: Hook) => boolean,
  ) {}

  private stateOf(hook: Hook): PingState {
    let s = this.state.get(hook.id);
    if (!s) this.state.set(hook.id, (s = { again: false }));
    return s;
  }

  /** New payloads for `hook`: ping soon, once for the whole burst. */
  request(hook: Hook): void {
    if (!hook.notificationUrl || !hook.areNotificationsEnabled || !this.isActive(hook)) return;
    const s = this.stateOf(hook);
    if (s.retry) return; // the pending retry will tell the receiver to fetch everything
    if (s.inFlight) {
      s.again = true;
      return;
    }
    if (s.timer) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      this.send(hook, 0);
    }, this.opts.coalesceMs);
  }

  /** Send retries that are due on the emulator clock. */
  runDue(hooks: Iterable<Hook>): void {
    const now = this.clock.now();
    for (const hook of hooks) {
      const s = this.state.get(hook.id);
      if (!s?.retry || s.inFlight || s.retry.dueAt > now) continue;
      const n = s.retry.number;
      s.retry = undefined;
      if (hook.notificationUrl && hook.areNotificationsEnabled && this.isActive(hook)) this.send(hook, n);
    }
  }

  /** Earliest due retry (emulator ms), for the retry loop's sleep. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const s of this.state.values())
      if (s.retry && (min === undefined || s.retry.dueAt < min)) min = s.retry.dueAt;
    return min;
  }

  /** Send coalesced pings now and wait until no ping is in flight (tests, shutdown). */
  async flush(hooks: Iterable<Hook>): Promise<void> {
    for (const hook of hooks) {
      const s = this.state.get(hook.id);
      if (s?.timer) {
        clearTimeout(s.timer);
        s.timer = undefined;
        this.send(hook, 0);
      }
    }
    await this.settle();
  }

  /** Wait until no ping is in flight, without sending anything new. */
  async settle(): Promise<void> {
    for (;;) {
      const busy = [...this.state.values()].map((s) => s.inFlight).filter((p) => p !== undefined);
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }

  /** Forget a hook (deleted) or its pending retry (notifications re-enabled). */
  reset(hookId: string): void {
    const s = this.state.get(hookId);
    if (s?.timer) clearTimeout(s.timer);
    if (s && !s.inFlight) this.state.delete(hookId);
    else if (s) s.retry = undefined;
  }

  /** Cancel coalesced pings and scheduled retries (shutdown). */
  stop(): void {
    for (const s of this.state.values()) {
      if (s.timer) clearTimeout(s.timer);
      s.timer = undefined;
      s.retry = undefined;
      s.again = false;
    }
  }

  private send(hook: Hook, retryNumber: number): void {
    const s = this.stateOf(hook);
    s.again = false;
    s.inFlight = this.ping(hook, retryNumber)
      .catch(() => undefined) // ping() records its own failures; never leave a rejection unhandled
      .finally(() => {
        s.inFlight = undefined;
        if (s.again && !s.retry) {
          s.again = false;
          this.request(hook);
        }
      });
  }

  private async ping(hook: Hook, retryNumber: number): Promise<void> {
    const body = JSON.stringify({
      base: { id: hook.baseId },
      webhook: { id: hook.id },
      timestamp: this.clock.iso(),
    });
    const started = performance.now();
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), this.opts.timeoutMs);
    let error: string | undefined;
    try {
      const res = await this.fetchFn(hook.notificationUrl!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [MAC_HEADER]: await signPing(hook.macSecretBase64, body),
        },
        body,
        signal: abort.signal,
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.status !== 200 && res.status !== 204) {
        error = `The HTTP request returned a ${res.status} status code instead of 200 or 204`;
      }
    } catch (err) {
      error = abort.signal.aborted
        ? `The HTTP request took longer than ${this.opts.timeoutMs / 1000} seconds`
        : `The HTTP request failed: ${(err as Error).message ?? 'connection error'}`;
    } finally {
      clearTimeout(timeout);
    }
    const result: NotificationResult = {
      success: error === undefined,
      completionTimestamp: this.clock.iso(),
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      retryNumber,
    };
    if (error === undefined) {
      hook.lastSuccessfulNotificationTime = result.completionTimestamp;
    } else {
      const willBeRetried = retryNumber < this.opts.maxRetries;
      result.willBeRetried = willBeRetried;
      result.error = { message: error };
      if (willBeRetried) {
        this.stateOf(hook).retry = {
          number: retryNumber + 1,
          dueAt: this.clock.now() + this.opts.firstRetryMs * 2 ** retryNumber,
        };
      } else {
        // docs/airtable-reference.md §4.4: the ping is dropped and notifications are disabled.
        hook.areNotificationsEnabled = false;
      }
    }
    hook.lastNotificationResult = result;
  }
}
