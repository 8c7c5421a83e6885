import { conflict, notFound } from '../errors.ts';
import { isHookGone, type WebhookContext } from './context.ts';
import { createAndStore, createHook, deleteHook, markCatchup, recreateHook, storeHook } from './hook.ts';
import type { PayloadDrains } from './payloads.ts';
import {
  deleteWebhookRow,
  listWebhookRows,
  loadSourceBase,
  loadWebhook,
  saveMacSecret,
  saveRefreshed,
  webhookTables,
  type WebhookRow,
} from './store.ts';

const DAY = 24 * 60 * 60 * 1000;

/** What the API shows of a registration (never the MAC secret). */
export interface WebhookView {
  source_id: string;
  webhook_id: string;
  notification_url: string;
  status: string;
  cursor: number;
  expiration_time: string | null;
  last_error: string | null;
  last_ping_at: string | null;
  last_payload_at: string | null;
  recreated_count: number;
  created_at: string;
  refreshed_at: string | null;
  tables: string[];
}

/**
 * A source's registration: register, show, rotate, unregister (the API), and the maintenance
 * that keeps a hook alive — refreshed before it expires (hooks live 7 days), re-created when
 * Airtable expired, disabled or lost it, notifications switched back on.
 */
export class Registrations {
  constructor(
    private readonly ctx: WebhookContext,
    private readonly payloads: PayloadDrains,
  ) {}

  register(sourceId: string) {
    return this.ctx.exclusive(sourceId, async () => {
      const source = await this.ctx.source(sourceId);
      this.ctx.notificationUrl(sourceId);
      const existing = await loadWebhook(this.ctx.deps.db, sourceId);
      if (existing) return { created: false, webhook: await this.view(existing) };
      const client = await this.ctx.deps.clientFor(source);
      await createAndStore(this.ctx, source, client, false, null);
      return { created: true, webhook: await this.info(sourceId) };
    });
  }

  async info(sourceId: string): Promise<WebhookView> {
    await this.ctx.source(sourceId);
    const row = await loadWebhook(this.ctx.deps.db, sourceId);
    if (!row) throw notFound('This source has no webhook.');
    return this.view(row);
  }

  rotate(sourceId: string) {
    return this.ctx.exclusive(sourceId, async () => {
      const source = await this.ctx.source(sourceId);
      const old = await loadWebhook(this.ctx.deps.db, sourceId);
      if (!old) throw notFound('This source has no webhook.');
      const client = await this.ctx.deps.clientFor(source);
      // New hook first, then drain the old one: every change lands in one of the two.
      const created = await createHook(this.ctx, source, client);
      try {
        await this.payloads.drainLocked(sourceId);
      } catch (err) {
        this.ctx.deps.log.warn(
          { source: sourceId, err: (err as Error).message },
          'draining the old webhook failed',
        );
        await markCatchup(this.ctx, sourceId);
      }
      await storeHook(this.ctx, sourceId, created, { recreated: false });
      if (old.webhook_id !== created.id) await deleteHook(client, source.baseId, old.webhook_id);
      return this.info(sourceId);
    });
  }

  /**
   * The MAC secret of the source's hook, as given (a hook registered at Airtable outside
   * airmirror); the hook itself is not touched. Pings are verified with it from now on.
   */
  setMacSecret(sourceId: string, macSecretBase64: string) {
    return this.ctx.exclusive(sourceId, async () => {
      await this.ctx.source(sourceId);
      const row = await loadWebhook(this.ctx.deps.db, sourceId);
      if (!row) throw notFound('This source has no webhook.');
      await saveMacSecret(this.ctx.deps.db, sourceId, await this.ctx.deps.secrets.encrypt(macSecretBase64));
      this.ctx.deps.log.info({ source: sourceId }, 'webhook MAC secret set by hand');
      return this.info(sourceId);
    });
  }

  unregister(sourceId: string) {
    return this.ctx.exclusive(sourceId, async () => {
      const source = await this.ctx.source(sourceId);
      const row = await loadWebhook(this.ctx.deps.db, sourceId);
      if (!row) throw notFound('This source has no webhook.');
      const tables = await webhookTables(this.ctx.deps.db, sourceId);
      if (tables.length > 0) {
        const names = tables.map((t) => t.table_name);
        throw conflict(
          `Tables still use the webhook sync type: ${names.join(', ')}. Switch them to another sync type first.`,
          'WEBHOOK_IN_USE',
          { tables: names },
        );
      }
      const client = await this.ctx.deps.clientFor(source);
      await deleteHook(client, source.baseId, row.webhook_id);
      await deleteWebhookRow(this.ctx.deps.db, sourceId);
    });
  }

  async macSecret(sourceId: string): Promise<string | undefined> {
    const row = await loadWebhook(this.ctx.deps.db, sourceId);
    return row ? this.ctx.deps.secrets.decrypt(row.mac_secret_encrypted) : undefined;
  }

  /**
   * One maintenance pass over every registered hook (with an owner: of the bases this process
   * owns); a failure of one does not stop the others.
   */
  async maintain(): Promise<void> {
    const owner = this.ctx.deps.owner;
    for (const row of await listWebhookRows(this.ctx.deps.db)) {
      if (owner && !owner.owns(row.source_id)) continue;
      await this.ctx
        .exclusive(row.source_id, () => this.maintainOne(row.source_id))
        .catch((err: Error) =>
          this.ctx.deps.log.warn({ source: row.source_id, err: err.message }, 'webhook maintenance failed'),
        );
    }
  }

  private async maintainOne(sourceId: string): Promise<void> {
    const { db } = this.ctx.deps;
    const row = await loadWebhook(db, sourceId);
    const source = await loadSourceBase(db, sourceId);
    if (!row || !source) return;
    const client = await this.ctx.deps.clientFor(source);
    const now = this.ctx.now();
    const hooks = await client.listWebhooks(source.baseId);
    const hook = hooks.find((h) => h.id === row.webhook_id);
    if (!hook) return recreateHook(this.ctx, source, client, 'webhook no longer exists at Airtable');
    const expiration = hook.expirationTime ? new Date(hook.expirationTime) : null;
    if (!hook.isHookEnabled || (expiration && expiration.getTime() <= now.getTime())) {
      return recreateHook(
        this.ctx,
        source,
        client,
        expiration && expiration <= now ? 'webhook expired' : 'webhook disabled',
      );
    }
    if (row.status !== 'active')
      return recreateHook(this.ctx, source, client, row.last_error ?? 'webhook failed');
    if (expiration && expiration.getTime() - now.getTime() <= (this.ctx.deps.refreshBeforeMs ?? 3 * DAY)) {
      try {
        const r = await client.refreshWebhook(source.baseId, row.webhook_id);
        await saveRefreshed(db, sourceId, r.expirationTime ? new Date(r.expirationTime) : null, now);
      } catch (err) {
        if (isHookGone(err)) return recreateHook(this.ctx, source, client, 'webhook could not be refreshed');
        throw err;
      }
    } else if (expiration?.getTime() !== row.expiration_time?.getTime()) {
      // Reading payloads extends the expiry too (docs/airtable-reference.md §4.5); keep what Airtable says.
      await saveRefreshed(db, sourceId, expiration, row.refreshed_at ?? now);
    }
    if (!hook.areNotificationsEnabled) {
      // Pings failed for about a day and Airtable stopped sending them; payloads kept piling up.
      await client.enableNotifications(source.baseId, row.webhook_id, true);
      await this.payloads.drainLocked(sourceId);
    }
  }

  private async view(row: WebhookRow): Promise<WebhookView> {
    const tables = await webhookTables(this.ctx.deps.db, row.source_id);
    const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
    return {
      source_id: row.source_id,
      webhook_id: row.webhook_id,
      notification_url: row.notification_url,
      status: row.status,
      cursor: row.cursor,
      expiration_time: iso(row.expiration_time),
      last_error: row.last_error,
      last_ping_at: iso(row.last_ping_at),
      last_payload_at: iso(row.last_payload_at),
      recreated_count: row.recreated_count,
      created_at: new Date(row.created_at).toISOString(),
      refreshed_at: iso(row.refreshed_at),
      tables: tables.map((t) => t.table_name),
    };
  }
}
