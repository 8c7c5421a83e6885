import { listSources, listTables, updateTableConfig } from './bookkeeping/index.ts';
import type { Database } from './db/database.ts';
import type { Logger } from './log.ts';
import type { WebhookService } from './webhooks/index.ts';

/**
 * The demo's emulator runs in this process and can reach our own server, so the demo base gets a
 * real Airtable webhook, as a production base with AIRMIRROR_PUBLIC_URL would: its tables switch to
 * the `webhook` sync type (pings drive targeted fetches; the hourly schedule stays as the safety
 * net), so a change made in the emulator — not through the proxy — reaches the mirror in seconds.
 * Runs after the first sync, which built the tables.
 */
export async function enableDemoWebhooks(deps: {
  db: Database;
  webhooks: Pick<WebhookService, 'register'>;
  log: Logger;
}): Promise<void> {
  const { db, webhooks, log } = deps;
  for (const source of await listSources(db, 'created')) {
    for (const t of await listTables(db, source.id)) {
      if (t.syncType === 'full_refresh') await updateTableConfig(db, t.id, { syncType: 'webhook' });
    }
    // A hook kept from an earlier run (data in ./.airmirror) points at an emulator that is gone:
    // the service's start-up maintenance already re-created it at this run's address.
    const { webhook } = await webhooks.register(source.id);
    log.info(
      { source: source.id, webhook: webhook.webhook_id, tables: webhook.tables.length },
      'demo: Airtable webhook registered; changes made in the emulator reach the mirror in seconds',
    );
  }
}
