/**
 * The `webhook` sync type as the syncer runs it on its schedule: payloads keep the mirror fresh
 * between runs, so the scheduled run is the safety-net reconciliation — a full_refresh sweep,
 * which repairs whatever a missed ping, purged payloads or a broken hook let through.
 */
export const webhookStrategy = {
  syncType: 'webhook',
  async run(ctx: { sweep(): Promise<void> }): Promise<void> {
    await ctx.sweep();
  },
} as const;
