import { describe, expect, it } from 'vitest';
import { createFakeClock, settle } from './fake-clock.ts';
import { waitUntil } from './wait.ts';

describe('waitUntil', () => {
  it('returns the first value that is not false, undefined or null', async () => {
    let n = 0;
    expect(await waitUntil(() => (++n >= 3 ? { n } : undefined), { intervalMs: 1 })).toEqual({ n: 3 });
    expect(await waitUntil(() => 0)).toBe(0);
  });

  it('gives up after timeoutMs, naming what it waited for', async () => {
    await expect(waitUntil(() => false, { timeoutMs: 30, what: 'Godot' })).rejects.toThrow(
      'timed out after 30 ms waiting for Godot',
    );
  });

  it('fails at once when the check throws, unless told to retry', async () => {
    let n = 0;
    const check = () => {
      if (++n < 3) throw new Error('not up yet');
      return true;
    };
    await expect(waitUntil(check)).rejects.toThrow('not up yet');
    n = 0;
    expect(await waitUntil(check, { retryErrors: true, intervalMs: 1 })).toBe(true);
    await expect(
      waitUntil(
        () => {
          throw new Error('down');
        },
        { retryErrors: true, timeoutMs: 20 },
      ),
    ).rejects.toThrow('(last error: Error: down)');
  });
});

describe('createFakeClock', () => {
  it('advance() fires timers in order at their own time; jump() wakes all due at the new time', async () => {
    const clock = createFakeClock(0);
    const seen: string[] = [];
    void clock.sleep(20).then(() => seen.push(`b@${clock.now()}`));
    void clock.sleep(10).then(() => seen.push(`a@${clock.now()}`));
    await clock.advance(15);
    expect(seen).toEqual(['a@10']);
    expect(clock.now()).toBe(15);
    void clock.sleep(100).then(() => seen.push(`c@${clock.now()}`));
    clock.jump(200);
    await settle();
    expect(seen).toEqual(['a@10', 'b@215', 'c@215']);
    expect(clock.sleeps).toEqual([20, 10, 100]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('sleepsUntil() tells whether a sleep waits to wake at exactly that time', async () => {
    const clock = createFakeClock(1_000);
    expect(clock.sleepsUntil(31_000)).toBe(false);
    const slept = clock.sleep(30_000);
    expect(clock.sleepsUntil(31_000)).toBe(true);
    expect(clock.sleepsUntil(30_999)).toBe(false);
    clock.jump(30_000);
    await slept;
    expect(clock.sleepsUntil(31_000)).toBe(false);
  });

  it('a sleep whose signal aborts rejects with its reason and leaves no timer', async () => {
    const clock = createFakeClock(0);
    const ac = new AbortController();
    const slept = clock.sleep(1_000, ac.signal);
    expect(clock.pendingTimers()).toBe(1);
    ac.abort(new Error('stop'));
    await expect(slept).rejects.toThrow('stop');
    expect(clock.pendingTimers()).toBe(0);
  });

  it('with autoAdvance, every sleep moves the time by its delay at once', async () => {
    const clock = createFakeClock(1_000, { autoAdvance: true });
    await clock.sleep(30_000);
    await clock.sleep(5);
    expect(clock.now()).toBe(31_005);
    expect(clock.pendingTimers()).toBe(0);
    await expect(clock.sleep(1, AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
  });
});
