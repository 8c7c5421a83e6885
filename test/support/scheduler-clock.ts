import type { Clock } from '../../src/scheduler/clock.ts';

/** A clock that only moves when told to; sleepers wake when it passes their time. */
export class FakeClock implements Clock {
  private sleepers: { at: number; resolve: () => void }[] = [];
  constructor(public t: number) {}

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const entry = { at: this.t + ms, resolve };
      this.sleepers.push(entry);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== entry);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  get pendingSleepers(): number {
    return this.sleepers.length;
  }

  /** Moves time forward and wakes every sleeper whose time has come. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.at <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.at > this.t);
    for (const s of due) s.resolve();
  }
}

/**
 * Waits (in real time) until `cond` holds: for async work the test cannot await directly. The
 * bound is generous on purpose — on a loaded 2-core CI machine the scheduler's Postgres round
 * trips can take seconds — and only decides when to give up, never what passes.
 */
export async function until(cond: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}
