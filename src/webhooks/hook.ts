import type { CreateWebhookResponse, WebhookSpecification } from '../airtable/types.ts';
import { describeError, isHookGone, type SourceBase, type WebhookContext } from './context.ts';
import { loadWebhook, saveProblem, saveRegistration, setNeedsCatchup, webhookTables } from './store.ts';
import type { WebhookClient } from './types.ts';

/**
 * Everything: records, fields and table metadata, whole base, and every cell of a changed record
 * (docs/airtable-reference.md §4.2 `includeCellValuesInFieldIds: "all"`), so a payload describes
 * the whole record and is applied without fetching it (issue 17).
 */
export const WEBHOOK_SPECIFICATION: WebhookSpecification = {
  options: {
    filters: { dataTypes: ['tableData', 'tableFields', 'tableMetadata'] },
    includes: { includeCellValuesInFieldIds: 'all' },
  },
};

/**
 * A source's hook at Airtable: creating one (the MAC secret stored encrypted), replacing a broken
 * one, deleting one, and the catch-up sweep a replaced hook owes. Callers hold the source's lock.
 */

/** A hook just created at Airtable, with the address it pings. */
export interface CreatedHook extends CreateWebhookResponse {
  notificationUrl: string;
}

/** Creates a hook at Airtable pointing at our receiver. */
export async function createHook(
  ctx: WebhookContext,
  source: SourceBase,
  client: WebhookClient,
): Promise<CreatedHook> {
  const notificationUrl = ctx.notificationUrl(source.id);
  const created = await client.createWebhook(source.baseId, {
    notificationUrl,
    specification: WEBHOOK_SPECIFICATION,
  });
  return { ...created, notificationUrl };
}

/** Stores a hook just created at Airtable in place of any previous one (cursor back to 1). */
export async function storeHook(
  ctx: WebhookContext,
  sourceId: string,
  hook: CreatedHook,
  opts: { recreated: boolean; note?: string | null },
): Promise<void> {
  await saveRegistration(ctx.deps.db, {
    sourceId,
    webhookId: hook.id,
    macSecretEncrypted: await ctx.deps.secrets.encrypt(hook.macSecretBase64),
    expirationTime: hook.expirationTime ? new Date(hook.expirationTime) : null,
    notificationUrl: hook.notificationUrl,
    now: ctx.now(),
    recreated: opts.recreated,
    note: opts.note,
  });
}

/** Creates a hook at Airtable and stores it in place of any previous one; resolves with its id. */
export async function createAndStore(
  ctx: WebhookContext,
  source: SourceBase,
  client: WebhookClient,
  recreated: boolean,
  note: string | null,
): Promise<string> {
  const created = await createHook(ctx, source, client);
  await storeHook(ctx, source.id, created, { recreated, note });
  return created.id;
}

/** Replaces a broken hook and sweeps its tables, since changes may have been missed. */
export async function recreateHook(
  ctx: WebhookContext,
  source: SourceBase,
  client: WebhookClient,
  reason: string,
): Promise<void> {
  const old = await loadWebhook(ctx.deps.db, source.id);
  ctx.deps.log.warn({ source: source.id, reason }, 're-creating the Airtable webhook');
  let createdId: string;
  try {
    createdId = await createAndStore(
      ctx,
      source,
      client,
      true,
      `${reason}; re-created at ${ctx.now().toISOString()}`,
    );
  } catch (err) {
    await saveProblem(
      ctx.deps.db,
      source.id,
      'failed',
      `${reason}; re-creating failed: ${describeError(err)}`,
    );
    throw err;
  }
  // Never the hook just stored: an upstream that reuses ids (an emulator restarted with the same
  // seed) would otherwise have its new hook deleted as the old one.
  if (old && old.webhook_id !== createdId) await deleteHook(client, source.baseId, old.webhook_id);
  await catchUp(ctx, source.id);
}

/** Deletes a hook at Airtable; one already gone is fine. */
export async function deleteHook(client: WebhookClient, baseId: string, webhookId: string): Promise<void> {
  try {
    await client.deleteWebhook(baseId, webhookId);
  } catch (err) {
    if (!isHookGone(err)) throw err;
  }
}

/** Flags the source's webhook tables as owed a catch-up (shown by `status`); resolves with their ids. */
export async function markCatchup(ctx: WebhookContext, sourceId: string): Promise<string[]> {
  const tables = (await webhookTables(ctx.deps.db, sourceId)).map((t) => t.table_id);
  await setNeedsCatchup(ctx.deps.db, sourceId, tables, true);
  return tables;
}

/** Marks the webhook tables for catch-up and sweeps them (cleared on success). */
export async function catchUp(ctx: WebhookContext, sourceId: string): Promise<void> {
  const tables = await markCatchup(ctx, sourceId);
  const syncer = ctx.deps.syncer;
  if (!syncer) return;
  for (const tableId of tables) {
    const r = await syncer.syncTable(sourceId, tableId, { full: true });
    if (r.status === 'Completed') await setNeedsCatchup(ctx.deps.db, sourceId, [tableId], false);
  }
}
