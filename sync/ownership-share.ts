/**
 * How many bases each live `airmirror start` process should hold (pure). Members are ranked by
 * process id; with M bases and N members each holds ⌊M/N⌋ and the first M mod N one more, so every
 * process computes the same targets from the same view and no two chase the same surplus.
 */
export function fairTarget(memberIds: readonly string[], bases: number, me: string): number {
  const ids = [...new Set([...memberIds, me])].sort();
  const rank = ids.indexOf(me);
  const lo = Math.floor(bases / ids.length);
  return lo + (rank < bases % ids.length ? 1 : 0);
}

/** What one process should do now: take free bases, or hand some over (to members below target). */
export function balancePlan(args: {
  me: string;
  /** Live members (the process itself included) and the bases each holds now. */
  members: readonly { id: string; bases: number }[];
  /** Every base there is. */
  bases: number;
  /** Bases this process holds (its own count, fresher than `members`). */
  mine: number;
}): { take: number; handOver: number } {
  const ids = args.members.map((m) => m.id);
  const target = fairTarget(ids, args.bases, args.me);
  if (args.mine < target) return { take: target - args.mine, handOver: 0 };
  if (args.mine === target) return { take: 0, handOver: 0 };
  // Surplus goes only to someone who will take it: members below their target.
  const deficit = args.members
    .filter((m) => m.id !== args.me)
    .reduce((sum, m) => sum + Math.max(0, fairTarget(ids, args.bases, m.id) - m.bases), 0);
  return { take: 0, handOver: Math.min(args.mine - target, deficit) };
}

/** A stable, per-process order of bases to try, so processes do not all reach for the same one. */
export function preferenceOrder<T extends { sourceId: string }>(me: string, bases: readonly T[]): T[] {
  const score = (s: string) => {
    let h = 2166136261;
    for (const ch of me + '\u0000' + s) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
    return h >>> 0;
  };
  return [...bases].sort((a, b) => score(a.sourceId) - score(b.sourceId));
}

/**
 * Bases left free longer than `ms` (pure bookkeeping over the passes that saw them free). The
 * fair share decides who takes a free base, but the member it falls to may not take it — a
 * process back from a lost session waits for its own stopped runs of that base to record their
 * end first (ownership.ts), another may keep failing to — so after a while any process takes it;
 * the share is restored later by hand-over at a quiet moment. A base is never left unowned.
 */
export class FreeFor {
  private readonly since = new Map<string, number>();
  constructor(private readonly ms: number) {}

  /** Notes the bases free now; returns those free for at least `ms`. */
  overdue(free: readonly string[], now: number): string[] {
    const current = new Set(free);
    for (const id of this.since.keys()) if (!current.has(id)) this.since.delete(id);
    for (const id of free) if (!this.since.has(id)) this.since.set(id, now);
    return free.filter((id) => now - this.since.get(id)! >= this.ms);
  }
}

/**
 * Bases claimed at once by a balancing pass (each claim is a few round trips). 8 at once took 50
 * new bases 1.4 s (the last one's first page then came a second after the first's); 25, 0.3 s.
 */
export const CLAIMS_AT_ONCE = 25;

/**
 * Claims `ids`, in that order, until `want` are taken: a few at once, never more at once than
 * still wanted, so no more than `want` are ever taken. One claim is several round trips (lock,
 * epoch, recovery): one after another, 50 new bases would start over seconds, the last ones idle
 * while the first ones already sync. Resolves with how many were taken.
 */
export async function claimInWaves(
  ids: readonly string[],
  want: number,
  claim: (id: string) => Promise<boolean>,
  stopped: () => boolean = () => false,
  atOnce = CLAIMS_AT_ONCE,
): Promise<number> {
  let taken = 0;
  let next = 0;
  while (taken < want && next < ids.length && !stopped()) {
    const wave = ids.slice(next, next + Math.min(atOnce, want - taken));
    next += wave.length;
    taken += (await Promise.all(wave.map(claim))).filter(Boolean).length;
  }
  return taken;
}
