import type { QuotaService } from './service.ts';

/**
 * The scheduler's `pace` (src/scheduler): a table's scheduled runs follow its source's token
 * quota — spaced out by the quota's spacing while the projection passes background work's part,
 * held until the month resets while background work is paused. A source without a token key
 * (none resolved yet) runs as usual.
 */
export function schedulerPace(
  quota: Pick<QuotaService, 'forSource'>,
): (t: { sourceId: string }) => Promise<{ spacing: number; pausedUntil: number | null }> {
  return async (t) => {
    const q = await quota.forSource(t.sourceId).catch(() => undefined);
    if (!q) return { spacing: 1, pausedUntil: null };
    return { spacing: q.spacing, pausedUntil: q.paused ? q.resumesAt : null };
  };
}
