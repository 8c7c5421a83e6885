import type { Now, Sleep } from '../lifecycle/clock.ts';
import type { Departure } from './budget-types.ts';

/**
 * The last guard before a request leaves this process: no more than `perBase` of its requests to
 * one base (and `perToken` with one token) leave in any `windowMs`, counted when they really
 * leave. The budget grants start times; a busy event loop or a claim's answer read late makes a
 * request leave later than its grant, and a late one followed by an on-time one five grants
 * later puts six requests into one of Airtable's seconds (docs/airtable-reference.md §2.1: a 429
 * and 30 s without the base). Here the later one waits instead, for as long as the first one
 * was late — so a process alone on a base needs no margin for lateness in the shared budget
 * (budget_claim leaves its lag margin out until another caller shares the base: migration 062).
 *
 * Airtable counts a request when it arrives, which can be later than it left: a server (or the
 * network in front of it) that queues requests counts the first of a burst late and the next
 * window's on time. `windowMs` (1,040) keeps 40 ms for the usual jitter of that; beyond it,
 * Airtable counted a request no later than it answered it, so a departure whose caller reports
 * the answer (`Departure.answered`) holds the one five after it for as long as its round trip
 * took beyond the base's quickest lately — the time it may have queued on the way in — up to two
 * windows. Until enough round trips are known (a process's first burst), the whole round trip
 * counts. (Tried: a second and a 10-ms tick instead of the 40 ms, with the round trip's excess on
 * top — 2 and 10 × 429 in three runs of bench/fan-in.ts; the excess alone does not bound the
 * emulator's jitter.)
 *
 * A request the budget granted in time goes at once and synchronously; a held one goes in grant
 * order per base, after the ones held before it.
 */
export interface PacerOptions {
  perBase: number;
  perToken: number;
  /** The budget's window, its margin included. */
  windowMs: number;
  now: Now;
  sleep: Sleep;
}

interface Entry {
  left: number;
  /** Answered (or nobody reports on it): how long it may have queued before Airtable counted it. */
  extra: number | undefined;
  base: BaseLine;
  lines: Line[];
}

interface Line {
  /** Departures, oldest first: at most `limit` of them. */
  entries: Entry[];
  limit: number;
  /** What waits for an answer of this line. */
  wakers: Set<() => void>;
}

interface BaseLine extends Line {
  /** Requests held back, in grant order. */
  held: number;
  tail: Promise<void>;
  /** The base's latest round trips. */
  rtts: number[];
}

/** Past this many lines, those with no departure in the last three windows are dropped (see sweep). */
const SWEEP_AT = 1_000;
/** Round trips the quickest one is taken from (per base, and in all), and how many before it counts. */
const RTT_SAMPLES = 16;
const RTT_MIN_SAMPLES = 8;

export class DeparturePacer {
  private readonly bases = new Map<string, BaseLine>();
  private readonly tokens = new Map<string, Line>();
  private sweepAt = SWEEP_AT;
  private readonly rtts: number[] = [];
  /** Requests that had to wait here (a late departure or a slow answer before them). */
  holds = 0;

  constructor(private readonly opts: PacerOptions) {}

  /**
   * Calls `go` when a request to `baseId` may leave. `go` answers whether it left (false: it was
   * aborted meanwhile, and takes no departure). With `reportsAnswer`, the departure handed to
   * `go` waits for its `answered()`; without, it counts as answered when it left.
   */
  depart(
    baseId: string,
    tokenKey: string | undefined,
    reportsAnswer: boolean,
    go: (d: Departure | undefined) => boolean,
  ): void {
    const { now } = this.opts;
    const b = this.baseLine(baseId);
    // Looked up each time: a token's line left idle a window may be swept meanwhile.
    const lines = (): Line[] => (tokenKey === undefined ? [b] : [b, this.tokenLine(tokenKey)]);
    const leave = () => {
      const at = now();
      const e: Entry = { left: at, extra: reportsAnswer ? undefined : 0, base: b, lines: lines() };
      if (!go(reportsAnswer ? { answered: () => this.answered(e) } : undefined)) return;
      for (const l of e.lines) {
        l.entries.push(e);
        if (l.entries.length > l.limit) l.entries.shift();
      }
    };
    if (b.held === 0 && this.earliest(lines()) <= now()) return leave();
    this.holds++;
    b.held++;
    b.tail = b.tail
      .then(async () => {
        for (;;) {
          const ls = lines();
          const wait = this.earliest(ls) - now();
          if (wait <= 0) break;
          // An answer can bring the time forward: it wakes the wait.
          const ctl = new AbortController();
          const wake = () => ctl.abort();
          for (const l of ls) l.wakers.add(wake);
          await this.opts.sleep(wait, ctl.signal).catch(() => undefined);
          for (const l of ls) l.wakers.delete(wake);
        }
        leave();
      })
      .catch(() => undefined)
      .finally(() => void b.held--);
  }

  private answered(e: Entry): void {
    if (e.extra !== undefined) return;
    const rtt = this.opts.now() - e.left;
    e.extra = this.beyondQuickest(e.base, rtt);
    for (const ring of [e.base.rtts, this.rtts]) {
      ring.push(rtt);
      if (ring.length > RTT_SAMPLES) ring.shift();
    }
    for (const l of e.lines) for (const wake of l.wakers) wake();
  }

  /**
   * How much of a round trip may have been queueing before Airtable counted the request: what it
   * took beyond the base's quickest lately (its pages' own size and work are in that one too),
   * or the process's quickest while the base has too few, or all of it while the process has.
   */
  private beyondQuickest(b: BaseLine, rtt: number): number {
    const ring = b.rtts.length >= RTT_MIN_SAMPLES ? b.rtts : this.rtts;
    const quickest = ring.length >= RTT_MIN_SAMPLES ? Math.min(...ring) : 0;
    return Math.min(2 * this.opts.windowMs, Math.max(0, rtt - quickest));
  }

  /** When the next departure of these lines may leave. */
  private earliest(lines: Line[]): number {
    const { windowMs, now } = this.opts;
    let at = 0;
    for (const l of lines) {
      if (l.entries.length < l.limit) continue;
      const e = l.entries[0];
      // In flight: at least as slow as it has been so far (and the wait ends with its answer).
      const extra = e.extra ?? this.beyondQuickest(e.base, Math.max(now(), e.left + windowMs) - e.left);
      at = Math.max(at, e.left + windowMs + extra);
    }
    return at;
  }

  private baseLine(id: string): BaseLine {
    let l = this.bases.get(id);
    if (!l) {
      if (this.bases.size + this.tokens.size >= this.sweepAt) this.sweep();
      l = {
        entries: [],
        limit: this.opts.perBase,
        wakers: new Set(),
        held: 0,
        tail: Promise.resolve(),
        rtts: [],
      };
      this.bases.set(id, l);
    }
    return l;
  }

  private tokenLine(key: string): Line {
    let l = this.tokens.get(key);
    if (!l) {
      if (this.bases.size + this.tokens.size >= this.sweepAt) this.sweep();
      l = { entries: [], limit: this.opts.perToken, wakers: new Set() };
      this.tokens.set(key, l);
    }
    return l;
  }

  /** Lines whose newest departure left three windows ago limit nothing (see earliest): forgotten. */
  private sweep(): void {
    const old = this.opts.now() - 3 * this.opts.windowMs;
    const stale = (l: Line) => (l.entries.at(-1)?.left ?? 0) <= old;
    for (const [id, l] of this.bases) if (l.held === 0 && stale(l)) this.bases.delete(id);
    for (const [key, l] of this.tokens) if (l.wakers.size === 0 && stale(l)) this.tokens.delete(key);
    // Again at twice what is left: sweeping at every new line would cost a pass each.
    this.sweepAt = Math.max(SWEEP_AT, 2 * (this.bases.size + this.tokens.size));
  }

  /** Lines kept (bounded whatever base ids arrive). */
  size(): number {
    return this.bases.size + this.tokens.size;
  }
}
