import type { SyncStrategy } from './strategy.ts';

/** `full_refresh`: every run is the sweep (list all, upsert what changed, delete what vanished). */
export const fullRefreshStrategy: SyncStrategy = {
  syncType: 'full_refresh',
  async run(ctx) {
    await ctx.sweep({ ignoreCache: false });
  },
};
