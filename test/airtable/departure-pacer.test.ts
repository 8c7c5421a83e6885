import { describe, expect, it } from 'vitest';
import type { Departure } from '../../src/airtable/budget-types.ts';
import { DeparturePacer } from '../../src/airtable/departure-pacer.ts';
import { createFakeClock, settle, T0 } from '../support/fake-clock.ts';

const W = 1040;
/** A measured departure's window, before what its answer says. */
const M = W;

function world(perBase = 5, perToken = 50) {
  const clock = createFakeClock();
  const pacer = new DeparturePacer({ perBase, perToken, windowMs: W, now: clock.now, sleep: clock.sleep });
  /** Departure times (ms after T0), per label. */
  const left: Array<[string, number]> = [];
  const send = (label: string, base = 'appA', token?: string, alive = () => true) =>
    pacer.depart(base, token, false, () => {
      if (!alive()) return false;
      left.push([label, clock.now() - T0]);
      return true;
    });
  /** A request whose answer is reported: its departure, once it left. */
  const tracked = (label: string, base = 'appA') => {
    let departure: Departure | undefined;
    pacer.depart(base, undefined, true, (d) => {
      left.push([label, clock.now() - T0]);
      departure = d;
      return true;
    });
    return () => departure;
  };
  return { clock, pacer, left, send, tracked };
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

  it('stays bounded whatever base ids come: lines idle three windows are forgotten', async () => {
    const { clock, pacer, send } = world();
    // Five rounds of 1,000 new base ids and tokens each, three windows apart (a line limits
    // nothing three windows after its last departure): 10,000 lines seen, a round's worth kept
    // (and twice that at most before a sweep).
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1_000; i++) send(`x${round}.${i}`, `app${round}.${i}`, `tok${round}.${i}`);
      await clock.advance(3 * W + 1);
    }
    expect(pacer.size()).toBeLessThanOrEqual(4_100);
    expect(pacer.size()).toBeGreaterThanOrEqual(2_000);
  });

  describe('with answers reported', () => {
    /** Eight quick round trips (5 ms) on another base: what the pacer takes as the quickest. */
    async function warmUp(w: ReturnType<typeof world>) {
      for (let i = 0; i < 8; i++) {
        const d = w.tracked(`warm${i}`, `appWarm${i}`);
        await w.clock.advance(5);
        d()!.answered();
      }
    }

    it('holds the one five after a slow answer for the round trip beyond the quickest', async () => {
      const w = world();
      await warmUp(w);
      const start = w.clock.now() - T0;
      // The first of the base's window queued 100 ms on the way (its answer took 105 ms).
      const first = w.tracked('slow');
      await w.clock.advance(105);
      first()!.answered();
      for (let i = 1; i < 5; i++) w.send(`r${i}`);
      await w.clock.advance(M - 105);
      w.send('sixth');
      await w.clock.advance(99);
      await settle();
      expect(w.left.map(([l]) => l)).not.toContain('sixth');
      await w.clock.advance(1);
      await settle();
      expect(w.left.at(-1)).toEqual(['sixth', start + M + 100]);
    });

    it('measures each base against its own quickest: steady slow pages are not held', async () => {
      const w = world();
      await warmUp(w);
      // A base whose answers always take 50 ms (big pages): eight of them to know it by.
      for (let i = 0; i < 8; i++) {
        const d = w.tracked(`known${i}`, 'appBig');
        await w.clock.advance(50);
        d()!.answered();
        await w.clock.advance(3 * W);
      }
      const start = w.clock.now() - T0;
      const first = w.tracked('first', 'appBig');
      await w.clock.advance(50);
      first()!.answered();
      for (let i = 1; i < 5; i++) w.send(`r${i}`, 'appBig');
      await w.clock.advance(M - 50);
      // 50 ms is this base's usual: against the process's quickest (5 ms) it would wait 45 more.
      w.send('sixth', 'appBig');
      expect(w.left.at(-1)).toEqual(['sixth', start + M]);
    });

    it('counts the whole round trip while too few are known (a first burst)', async () => {
      const w = world();
      const first = w.tracked('first');
      await w.clock.advance(30);
      first()!.answered();
      for (let i = 1; i < 5; i++) w.send(`r${i}`);
      // A window after the first left: without its round trip, the sixth would go now.
      await w.clock.advance(M - 30);
      w.send('sixth');
      expect(w.left.map(([l]) => l)).not.toContain('sixth');
      await w.clock.advance(30);
      await settle();
      expect(w.left.at(-1)).toEqual(['sixth', M + 30]);
    });

    it('lets the next one go as soon as a late answer comes, and never later than two windows more', async () => {
      const w = world();
      await warmUp(w);
      const start = w.clock.now() - T0;
      const first = w.tracked('in flight');
      for (let i = 1; i < 5; i++) w.send(`r${i}`);
      w.send('sixth');
      await w.clock.advance(W + 300);
      await settle();
      expect(w.left.map(([l]) => l)).not.toContain('sixth');
      // The answer after 1,340 ms: the sixth goes a window after the first, plus what the answer
      // took beyond the quickest — not before, but without waiting for a timer set earlier.
      first()!.answered();
      await settle();
      expect(w.left.map(([l]) => l)).not.toContain('sixth');
      await w.clock.advance(M - 5);
      await settle();
      expect(w.left.at(-1)).toEqual(['sixth', start + M + W + 300 - 5]);

      // An answer that never comes holds the one five after it two windows more, not forever.
      const lost = w.tracked('never answered', 'appB');
      for (let i = 1; i < 5; i++) w.send(`b${i}`, 'appB');
      w.send('b sixth', 'appB');
      const t = w.clock.now() - T0;
      await w.clock.advance(M + 2 * W);
      await settle();
      expect(w.left.at(-1)).toEqual(['b sixth', t + M + 2 * W]);
      expect(lost()).toBeDefined();
    });
  });
});
