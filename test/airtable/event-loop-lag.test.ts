import { expect, it } from 'vitest';
import { eventLoopLag } from '../../src/airtable/process-budget.ts';

/** Keeps the event loop busy for `ms` (what a stall is: nothing else runs meanwhile). */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a stall counts in the lag margin at once, not only once its 2-s period is over', async () => {
  const lag = eventLoopLag();
  try {
    await tick(50);
    // First reading: a period starts (no stall yet in it).
    const before = lag.marginMs();
    stall(250);
    // Let the histogram's timer fire: it records how late it ran.
    await tick(30);
    const after = lag.marginMs();
    // Well within the same 2-s period: the percentile of the last periods has not been read again.
    expect(after).toBeGreaterThanOrEqual(150);
    expect(after).toBeGreaterThan(before);
  } finally {
    lag.stop();
  }
});

it('the margin stays bounded whatever the stall (a loop that stalls longer needs fixing, not waiting)', async () => {
  const lag = eventLoopLag();
  try {
    lag.marginMs();
    stall(700);
    await tick(30);
    expect(lag.marginMs()).toBe(500);
  } finally {
    lag.stop();
  }
});

it('counts from the first claim on: a stall before it (a process starting up) delayed no request', async () => {
  const lag = eventLoopLag();
  try {
    stall(250);
    await tick(30);
    // The first claim: nothing measured yet.
    expect(lag.marginMs()).toBe(0);
    await tick(50);
    // Counted from creation, the 250-ms stall would be in this period's maximum.
    expect(lag.marginMs()).toBeLessThan(200);
  } finally {
    lag.stop();
  }
});
