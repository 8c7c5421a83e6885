import type { Now, Sleep } from '../lifecycle/clock.ts';

/**
 * The last guard before a request leaves this process: no more than `perBase` of its requests to
 * one base (and `perToken` with one token) leave in any `windowMs`, counted when they really
 * leave. The budget grants start times; a busy event loop or a claim's answer read late makes a
 * request leave later than its grant, and a late one followed by an on-time one five grants
 * later puts six requests into one of Airtable's seconds (docs/airtable-reference.md §2.1: a 429
 * and 30 s without the base). Here the later one waits instead, for as long as the first one
 * was late — so this process's own requests need no margin for lateness in the shared budget
 * (budget_claim counts a process's lag margin only against the other processes' claims).
 *
 * A request the budget granted in time goes at once and synchronously; a held one goes in grant
 * order per base, after the ones held before it.
 */
export interface PacerOptions {
  perBase: number;
  perToken: number;
  windowMs: number;
  now: Now;
  sleep: Sleep;
}

interface Line {
  /** Departures, oldest first: at most `limit` of them. */
  times: number[];
  limit: number;
}

interface BaseLine extends Line {
  /** Requests held back, in grant order. */
  held: number;
  tail: Promise<void>;
}

/** Past this many lines, those with nothing in the last window are dropped (they limit nothing). */
const SWEEP_AT = 1_000;

export class DeparturePacer {
  private readonly bases = new Map<string, BaseLine>();
  private readonly tokens = new Map<string, Line>();
  private sweepAt = SWEEP_AT;
  /** Requests that had to wait here (a late departure before them), for tests and metrics. */
  holds = 0;

  constructor(private readonly opts: PacerOptions) {}

  /**
   * Calls `go` when a request to `baseId` may leave. `go` answers whether it left (false: it was
   * aborted meanwhile, and takes no departure).
   */
  depart(baseId: string, tokenKey: string | undefined, go: () => boolean): void {
    const { now } = this.opts;
    const b = this.baseLine(baseId);
    // Looked up each time: a token's line left idle a window may be swept meanwhile.
    const token = () => (tokenKey === undefined ? undefined : this.tokenLine(tokenKey));
    if (b.held === 0 && this.earliest(b, token()) <= now()) {
      if (go()) this.note(b, token(), now());
      return;
    }
    this.holds++;
    b.held++;
    b.tail = b.tail
      .then(async () => {
        for (;;) {
          const wait = this.earliest(b, token()) - now();
          if (wait <= 0) break;
          await this.opts.sleep(wait);
        }
        if (go()) this.note(b, token(), now());
      })
      .catch(() => undefined)
      .finally(() => void b.held--);
  }

  private earliest(b: Line, t: Line | undefined): number {
    const at = (l: Line) => (l.times.length < l.limit ? 0 : l.times[0] + this.opts.windowMs);
    return Math.max(at(b), t ? at(t) : 0);
  }

  private note(b: Line, t: Line | undefined, at: number): void {
    for (const l of t ? [b, t] : [b]) {
      l.times.push(at);
      if (l.times.length > l.limit) l.times.shift();
    }
  }

  private baseLine(id: string): BaseLine {
    let l = this.bases.get(id);
    if (!l) {
      if (this.bases.size + this.tokens.size >= this.sweepAt) this.sweep();
      l = { times: [], limit: this.opts.perBase, held: 0, tail: Promise.resolve() };
      this.bases.set(id, l);
    }
    return l;
  }

  private tokenLine(key: string): Line {
    let l = this.tokens.get(key);
    if (!l) {
      if (this.bases.size + this.tokens.size >= this.sweepAt) this.sweep();
      l = { times: [], limit: this.opts.perToken };
      this.tokens.set(key, l);
    }
    return l;
  }

  /** Lines whose newest departure is a window old limit nothing: forgotten. */
  private sweep(): void {
    const old = this.opts.now() - this.opts.windowMs;
    const stale = (l: Line) => (l.times.at(-1) ?? 0) <= old;
    for (const [id, l] of this.bases) if (l.held === 0 && stale(l)) this.bases.delete(id);
    for (const [key, l] of this.tokens) if (stale(l)) this.tokens.delete(key);
    // Again at twice what is left: sweeping at every new line would cost a pass each.
    this.sweepAt = Math.max(SWEEP_AT, 2 * (this.bases.size + this.tokens.size));
  }

  /** Lines kept (bounded whatever base ids arrive). */
  size(): number {
    return this.bases.size + this.tokens.size;
  }
}
