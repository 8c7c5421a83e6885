import { describe, expect, it } from 'vitest';
import { balancePlan, FreeFor } from '../../sync/ownership-share.ts';

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
