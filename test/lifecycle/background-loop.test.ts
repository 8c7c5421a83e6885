import { describe, expect, it } from 'vitest';
import { BackgroundLoop } from '../../src/lifecycle/background-loop.ts';
import { createFakeClock, settle } from '../support/fake-clock.ts';

function setup(pass: (signal: AbortSignal) => Promise<number | undefined | void>, extra = {}) {
  const clock = createFakeClock();
  const warnings: string[] = [];
  const loop = new BackgroundLoop({
    name: 'test loop',
    pass,
    intervalMs: 1_000,
    retryMs: 100,
    maxRetryMs: 400,
    log: { warn: (_o, msg) => warnings.push(msg) },
    sleep: (ms, signal) => clock.sleep(ms, signal).catch(() => undefined),
    ...extra,
  });
  return { clock, loop, warnings };
}

describe('BackgroundLoop', () => {
  it('runs a pass at once, then one per interval, or after the wait a pass asks for', async () => {
    let passes = 0;
    const { clock, loop } = setup(async () => (++passes === 2 ? 5_000 : undefined));
    loop.start();
    await settle();
    expect(passes).toBe(1);
    await clock.advance(999);
    expect(passes).toBe(1);
    await clock.advance(1);
    expect(passes).toBe(2);
    await clock.advance(4_999);
    expect(passes).toBe(2);
    await clock.advance(1);
    expect(passes).toBe(3);
    await loop.stop();
  });

  it('keeps going after failures, with a doubling retry delay up to the cap, and reports each', async () => {
    let passes = 0;
    const errors: unknown[] = [];
    const { clock, loop, warnings } = setup(
      async () => {
        passes++;
        if (passes <= 4) throw new Error(`boom ${passes}`);
      },
      { onError: (e: unknown) => errors.push(e) },
    );
    loop.start();
    await settle();
    expect(loop.consecutiveFailures).toBe(1);
    expect(clock.sleeps.at(-1)).toBe(100);
    await clock.advance(100);
    expect(clock.sleeps.at(-1)).toBe(200);
    await clock.advance(200);
    expect(clock.sleeps.at(-1)).toBe(400);
    await clock.advance(400);
    expect(clock.sleeps.at(-1)).toBe(400); // capped
    await clock.advance(400);
    expect(passes).toBe(5);
    expect(loop.consecutiveFailures).toBe(0);
    expect(clock.sleeps.at(-1)).toBe(1_000);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom 1', 'boom 2', 'boom 3', 'boom 4']);
    expect(warnings).toEqual(Array(4).fill('test loop failed; retrying'));
    await loop.stop();
  });

  it('nudge() ends the wait at once, and a nudge during a pass is not lost', async () => {
    let passes = 0;
    let release: (() => void) | undefined;
    const { loop } = setup(async () => {
      passes++;
      if (passes === 2) await new Promise<void>((r) => (release = r));
    });
    loop.start();
    await settle();
    expect(passes).toBe(1);
    loop.nudge();
    await settle();
    expect(passes).toBe(2);
    loop.nudge(); // while pass 2 runs
    release!();
    await settle();
    expect(passes).toBe(3);
    await loop.stop();
  });

  it('stop() aborts the running pass and resolves once it has settled', async () => {
    let seen: AbortSignal | undefined;
    let finished = false;
    const { loop } = setup(async (signal) => {
      seen = signal;
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      await settle(2);
      finished = true;
    });
    loop.start();
    await settle();
    expect(loop.started).toBe(true);
    await loop.stop();
    expect(seen?.aborted).toBe(true);
    expect(finished).toBe(true);
    expect(loop.started).toBe(false);
  });

  it('a wait of Infinity lasts until a nudge (no timer), and stop() ends it too', async () => {
    let passes = 0;
    const { clock, loop } = setup(async () => (++passes === 1 ? Infinity : undefined), {
      intervalMs: Infinity,
    });
    loop.start();
    await settle();
    expect(passes).toBe(1);
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(24 * 60 * 60 * 1000);
    expect(passes).toBe(1);
    loop.nudge();
    await settle();
    expect(passes).toBe(2); // then the interval, Infinity as well
    await clock.advance(24 * 60 * 60 * 1000);
    expect(passes).toBe(2);
    await loop.stop();
    expect(loop.started).toBe(false);
  });

  it('a failure after which the loop was stopped is neither reported nor retried', async () => {
    let passes = 0;
    const errors: unknown[] = [];
    const { loop, warnings } = setup(
      async (signal) => {
        passes++;
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
        throw new Error('aborted');
      },
      { onError: (e: unknown) => errors.push(e) },
    );
    loop.start();
    await settle();
    await loop.stop();
    expect(passes).toBe(1);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
  });
});
