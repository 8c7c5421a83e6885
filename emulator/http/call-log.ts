import type { MiddlewareHandler } from 'hono';
import type { EmulatorClock } from '../clock.ts';
import { perBaseId } from './guards.ts';

/** One API call the emulator answered (every `/v0/...` request; control routes are not calls). */
export interface EmulatorCall {
  method: string;
  /** The request path without the query, e.g. `/v0/appXXXXXXXXXXXXXX/Orders`. */
  path: string;
  /** The base it addressed (records, base schema, webhooks); null for list-bases and whoami. */
  baseId: string | null;
  /** The status answered, faults, 401s and 429s included; null while still in flight (a hang fault). */
  status: number | null;
  /** Arrival on the emulator clock, ms. */
  at: number;
}

/** Narrows `calls()`: all given conditions must hold. */
export interface CallFilter {
  /** Case-insensitive. */
  method?: string;
  /** Substring of the path (e.g. a table name or `/webhooks`). */
  path?: string;
  baseId?: string;
}

/**
 * Every API call the emulator answers, oldest first, so tests can count what a client sent
 * (pages listed, writes batched, retries after a 429). Bounded: past `limit` entries the oldest
 * are dropped and counted in `dropped`, so a long-running emulator does not grow without end.
 */
export class CallLog {
  private entries: EmulatorCall[] = [];
  private droppedCount = 0;

  constructor(
    private readonly clock: EmulatorClock,
    private readonly limit: number,
  ) {}

  /** Goes first on `/v0/*`, so calls refused by a fault, the URL limit, auth or the rate limit count too. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const path = new URL(c.req.url).pathname;
      const call: EmulatorCall = {
        method: c.req.method,
        path,
        baseId: perBaseId(path) ?? null,
        status: null,
        at: this.clock.now(),
      };
      this.add(call);
      await next();
      call.status = c.res.status;
    };
  }

  private add(call: EmulatorCall): void {
    this.entries.push(call);
    if (this.entries.length > this.limit) {
      const excess = this.entries.length - this.limit;
      this.entries.splice(0, excess);
      this.droppedCount += excess;
    }
  }

  /** Copies of the logged calls matching `filter`, oldest first. */
  list(filter: CallFilter = {}): EmulatorCall[] {
    const method = filter.method?.toUpperCase();
    return this.entries
      .filter(
        (e) =>
          (!method || e.method === method) &&
          (!filter.path || e.path.includes(filter.path)) &&
          (!filter.baseId || e.baseId === filter.baseId),
      )
      .map((e) => ({ ...e }));
  }

  /** Calls dropped from the front since the last `clear()` because the log was full. */
  get dropped(): number {
    return this.droppedCount;
  }

  clear(): void {
    this.entries = [];
    this.droppedCount = 0;
  }
}
