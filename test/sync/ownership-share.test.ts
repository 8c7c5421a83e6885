import { describe, expect, it } from 'vitest';
import { balancePlan, claimInWaves, FreeFor } from '../../sync/ownership-share.ts';

describe('the fair share', () => {
  it('a member below its target takes, one above hands over only what others lack', () => {
    const members = [
      { id: 'a', bases: 3 },
      { id: 'b', bases: 1 },
    ];
    expect(balancePlan({ me: 'b', members, bases: 4, mine: 1 })).toEqual({ take: 1, handOver: 0 });
    expect(balancePlan({ me: 'a', members, bases: 4, mine: 3 })).toEqual({ take: 0, handOver: 1 });
    expect(balancePlan({ me: 'a', members: [{ id: 'a', bases: 4 }], bases: 4, mine: 4 })).toEqual({
      take: 0,
      handOver: 0,
    });
  });
});

describe('bases free too long', () => {
  it('are overdue once free for the whole period, and forgotten once taken', () => {
    const f = new FreeFor(300);
    expect(f.overdue(['s1', 's2'], 1_000)).toEqual([]);
    expect(f.overdue(['s1', 's2'], 1_200)).toEqual([]);
    expect(f.overdue(['s1'], 1_300)).toEqual(['s1']);
    // s2 was taken meanwhile; free again, its period starts over.
    expect(f.overdue(['s1', 's2'], 1_400)).toEqual(['s1']);
    expect(f.overdue(['s2'], 1_650)).toEqual([]);
    expect(f.overdue(['s2'], 1_700)).toEqual(['s2']);
  });
});

describe('claiming in waves', () => {
  it('claims several at once, never more at once than still wanted, and stops at the number wanted', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `src${i}`);
    // Every third base is held by someone else: its claim fails.
    const free = (id: string) => Number(id.slice(3)) % 3 !== 0;
    let inFlight = 0;
    let most = 0;
    const asked: string[] = [];
    const claim = async (id: string) => {
      asked.push(id);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      return free(id);
    };
    expect(await claimInWaves(ids, 10, claim, () => false, 4)).toBe(10);
    expect(most).toBe(4);
    // In order, and only as many as needed: 10 free ones among the first 15 (5 of them taken).
    expect(asked).toEqual(ids.slice(0, asked.length));
    expect(asked.filter(free)).toHaveLength(10);
    expect(asked.length).toBeLessThanOrEqual(15);
  });

  it('a wave is never larger than what is still wanted, and a stop ends it', async () => {
    const asked: string[] = [];
    const claim = async (id: string) => (asked.push(id), true);
    expect(await claimInWaves(['a', 'b', 'c', 'd', 'e'], 2, claim, () => false, 8)).toBe(2);
    expect(asked).toEqual(['a', 'b']);
    let stop = false;
    const stopping = async (id: string) => ((stop = true), asked.push(id), true);
    expect(await claimInWaves(['x', 'y', 'z'], 3, stopping, () => stop, 1)).toBe(1);
    expect(asked).toEqual(['a', 'b', 'x']);
  });
});
