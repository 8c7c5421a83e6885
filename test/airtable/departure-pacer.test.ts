import { describe, expect, it } from 'vitest';
import { DeparturePacer } from '../../src/airtable/departure-pacer.ts';
import { createFakeClock, settle, T0 } from '../support/fake-clock.ts';

const W = 1040;

function world(perBase = 5, perToken = 50) {
  const clock = createFakeClock();
  const pacer = new DeparturePacer({ perBase, perToken, windowMs: W, now: clock.now, sleep: clock.sleep });
  /** Departure times (ms after T0), per label. */
  const left: Array<[string, number]> = [];
  const send = (label: string, base = 'appA', token?: string, alive = () => true) =>
    pacer.depart(base, token, () => {
      if (!alive()) return false;
      left.push([label, clock.now() - T0]);
      return true;
    });
  return { clock, pacer, left, send };
}

describe('DeparturePacer', () => {
  it('lets requests granted in time leave at once, in the same turn', () => {
    const { clock, pacer, left, send } = world();
    for (let i = 0; i < 5; i++) send(`r${i}`);
    expect(left.map(([, t]) => t)).toEqual([0, 0, 0, 0, 0]);
    expect(clock.pendingTimers()).toBe(0);
    expect(pacer.holds).toBe(0);
  });

  it('holds the sixth request until a window after the first really left', async () => {
    const { clock, pacer, left, send } = world();
    // The first left 120 ms late (a stalled loop): the budget granted the sixth a window after the
    // first's grant, which is 120 ms too soon for Airtable's count of arrivals.
    await clock.advance(120);
    send('late');
    for (let i = 1; i < 5; i++) {
      await clock.advance(50);
      send(`r${i}`);
    }
    await clock.advance(W - 120 - 200);
    send('sixth');
    expect(left.map(([l]) => l)).not.toContain('sixth');
    await clock.advance(119);
    await settle();
    expect(left.map(([l]) => l)).not.toContain('sixth');
    await clock.advance(1);
    await settle();
    expect(left.at(-1)).toEqual(['sixth', 120 + W]);
    expect(pacer.holds).toBe(1);
  });

  it('lets held requests leave in grant order, each a window after the one five before it', async () => {
    const { clock, left, send } = world();
    for (let i = 0; i < 5; i++) send(`a${i}`);
    for (let i = 0; i < 3; i++) send(`b${i}`);
    await clock.advance(W);
    await settle();
    expect(left.slice(5)).toEqual([
      ['b0', W],
      ['b1', W],
      ['b2', W],
    ]);
    // Any six departures of the base span more than a window.
    const times = left.map(([, t]) => t);
    for (let i = 5; i < times.length; i++) expect(times[i] - times[i - 5]).toBeGreaterThanOrEqual(W);
  });

  it('keeps other bases apart, and a token to its own limit across them', async () => {
    const { clock, left, send } = world(5, 7);
    for (let i = 0; i < 5; i++) send(`a${i}`, 'appA', 'tok');
    send('b0', 'appB', 'tok');
    send('c0', 'appC');
    // appB has room; the token (7 a window) has 1 left after b0: b1 goes, b2 waits for the token.
    send('b1', 'appB', 'tok');
    send('b2', 'appB', 'tok');
    expect(left.map(([l]) => l)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'c0', 'b1']);
    await clock.advance(W);
    await settle();
    expect(left.at(-1)).toEqual(['b2', W]);
  });

  it('gives no departure to a request aborted while it was held', async () => {
    const { clock, left, send } = world();
    for (let i = 0; i < 5; i++) send(`a${i}`);
    send('aborted', 'appA', undefined, () => false);
    send('next');
    await clock.advance(W);
    await settle();
    // "next" took the slot the aborted one would have had, at the same time.
    expect(left.slice(5)).toEqual([['next', W]]);
  });

  it('stays bounded whatever base ids come: lines idle a window are forgotten', async () => {
    const { clock, pacer, send } = world();
    // Five windows of 1,000 new base ids and tokens each: 10,000 lines seen, a window's worth kept
    // (and twice that at most before a sweep).
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1_000; i++) send(`x${round}.${i}`, `app${round}.${i}`, `tok${round}.${i}`);
      await clock.advance(W + 1);
    }
    expect(pacer.size()).toBeLessThanOrEqual(4_100);
    expect(pacer.size()).toBeGreaterThanOrEqual(2_000);
  });
});
