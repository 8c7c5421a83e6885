import { afterEach, describe, expect, it } from 'vitest';
import { allData, BASE, createWorld, F, T } from './harness.ts';

let world: ReturnType<typeof createWorld>;
afterEach(async () => {
  await world.webhooks.stop();
});

const DAY = 86_400_000;

describe('emulator webhooks: lifecycle (docs/airtable-reference.md §4.1, §4.5, §4.6)', () => {
  it('allows 10 hooks per base and refuses the 11th with a clear 4xx', async () => {
    world = createWorld();
    for (let i = 0; i < 10; i++) await world.createHook(allData);
    const r = await world.api('POST', '', { specification: allData });
    expect(r.status).toBe(422);
    expect(r.json.error.message).toMatch(/at most 10 webhooks/);
    const { webhooks } = (await world.api('GET', '')).json;
    expect(webhooks).toHaveLength(10);
    // Deleting one makes room again.
    expect((await world.api('DELETE', `/${webhooks[0].id}`)).status).toBe(200);
    expect((await world.api('POST', '', { specification: allData })).status).toBe(200);
  });

  it('delete removes the hook; unknown ids and unknown bases answer like Airtable', async () => {
    world = createWorld();
    const hook = await world.createHook(allData);
    const del = await world.api('DELETE', `/${hook.id}`);
    expect(del).toMatchObject({ status: 200, text: '' });
    expect((await world.api('GET', `/${hook.id}/payloads`)).status).toBe(404);
    expect((await world.api('DELETE', `/${hook.id}`)).status).toBe(404);
    // No hook left: the service stops listening, and store writes keep working.
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'x' } }], world.ui);
    expect((await world.api('GET', '')).json.webhooks).toEqual([]);
  });

  it('expires 7 days after creation on the emulator clock; stays readable, stops collecting, cannot refresh', async () => {
    world = createWorld();
    const hook = await world.createHook(allData);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'before' } }], world.ui);
    world.clock.advance(7 * DAY);

    const [info] = (await world.api('GET', '')).json.webhooks;
    expect(info.isHookEnabled).toBe(false);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'after' } }], world.ui);
    const page = await world.payloads(hook.id);
    expect(page.payloads).toHaveLength(1); // the one from before expiry, still readable
    expect((await world.api('GET', '')).json.webhooks[0].cursorForNextPayload).toBe(2);
    const refresh = await world.api('POST', `/${hook.id}/refresh`);
    expect(refresh.status).toBe(422);

    // docs/airtable-reference.md §4.6: readable for another 7 days, then gone.
    world.clock.advance(7 * DAY);
    expect((await world.api('GET', '')).json.webhooks).toEqual([]);
  });

  it('refresh and list-payloads on an active hook extend expiry to now + 7 days', async () => {
    world = createWorld();
    const hook = await world.createHook(allData);
    world.clock.advance(3 * DAY);
    const refreshed = await world.api('POST', `/${hook.id}/refresh`);
    expect(refreshed.json).toEqual({ expirationTime: new Date(world.clock.now() + 7 * DAY).toISOString() });
    world.clock.advance(6 * DAY);
    await world.payloads(hook.id);
    world.clock.advance(6 * DAY);
    const [info] = (await world.api('GET', '')).json.webhooks;
    expect(info.isHookEnabled).toBe(true);
    expect(info.expirationTime).toBe(new Date(world.clock.now() + DAY).toISOString());
  });

  it('drops payloads 7 days after creation; the cursor keeps counting', async () => {
    world = createWorld();
    const hook = await world.createHook(allData);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'old' } }], world.ui);
    world.clock.advance(4 * DAY);
    await world.api('POST', `/${hook.id}/refresh`);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'new' } }], world.ui);
    world.clock.advance(3 * DAY + 1);
    const page = await world.payloads(hook.id);
    expect(page.payloads).toHaveLength(1);
    expect(page.cursor).toBe(3);
  });

  it('deleting a watched field sends an error payload and disables the hook for good', async () => {
    world = createWorld();
    const hook = await world.createHook({
      options: { filters: { dataTypes: ['tableData', 'tableFields'], watchDataInFieldIds: [F.estimate] } },
    });
    const bystander = await world.createHook(allData);
    world.schema.deleteField(BASE, T.tasks, F.estimate, world.ui);
    await world.webhooks.flush();

    const { payloads } = await world.payloads(hook.id);
    const last = payloads.at(-1)!;
    expect(last).toMatchObject({ error: true, code: 'INVALID_HOOK', payloadFormat: 'v0' });
    const infos = (await world.api('GET', '')).json.webhooks as Array<{ id: string; isHookEnabled: boolean }>;
    expect(infos.find((h) => h.id === hook.id)!.isHookEnabled).toBe(false);
    expect(infos.find((h) => h.id === bystander.id)!.isHookEnabled).toBe(true);
    // The error payload got its ping.
    expect(world.pings.some((p) => JSON.parse(p.body).webhook.id === hook.id)).toBe(true);

    // It does not recover: later changes add nothing.
    const count = payloads.length;
    world.store.createRecords(BASE, T.tasks, [{ fields: { Title: 'later' } }], world.ui);
    expect((await world.payloads(hook.id)).payloads).toHaveLength(count);
  });

  it('deleting the scoped table also invalidates the hook', async () => {
    world = createWorld();
    const hook = await world.createHook({
      options: { filters: { dataTypes: ['tableData'], recordChangeScope: T.other } },
    });
    world.schema.deleteTable(BASE, T.other, world.ui);
    const { payloads } = await world.payloads(hook.id);
    expect(payloads.at(-1)).toMatchObject({ error: true, code: 'INVALID_HOOK' });
  });
});

describe('emulator webhooks: failing receivers (docs/airtable-reference.md §4.4)', () => {
  it('records failures, retries on the emulator clock with backoff, then disables notifications', async () => {
    let status = 503;
    world = createWorld({ receiverStatus: () => status, notifier: { maxRetries: 2, firstRetryMs: 10_000 } });
    const hook = await world.createHook(allData);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'x' } }], world.ui);
    await world.webhooks.flush();

    const info = async () => (await world.api('GET', '')).json.webhooks[0];
    expect((await info()).lastNotificationResult).toMatchObject({
      success: false,
      retryNumber: 0,
      willBeRetried: true,
      error: { message: 'The HTTP request returned a 503 status code instead of 200 or 204' },
    });
    expect(world.pings).toHaveLength(1);

    // Not due yet.
    world.clock.advance(9_999);
    world.webhooks.runDueRetries();
    await world.webhooks.flush();
    expect(world.pings).toHaveLength(1);

    world.clock.advance(1);
    world.webhooks.runDueRetries();
    await world.webhooks.flush();
    expect(world.pings).toHaveLength(2);
    expect((await info()).lastNotificationResult).toMatchObject({ retryNumber: 1, willBeRetried: true });

    // Backoff doubles: the second retry is due 20 s later.
    world.clock.advance(19_999);
    world.webhooks.runDueRetries();
    await world.webhooks.flush();
    expect(world.pings).toHaveLength(2);
    world.clock.advance(1);
    world.webhooks.runDueRetries();
    await world.webhooks.flush();
    expect(world.pings).toHaveLength(3);

    const disabled = await info();
    expect(disabled.areNotificationsEnabled).toBe(false);
    expect(disabled.isHookEnabled).toBe(true);
    expect(disabled.lastNotificationResult).toMatchObject({
      success: false,
      retryNumber: 2,
      willBeRetried: false,
    });

    // Payloads keep accumulating while notifications are off; no pings.
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'y' } }], world.ui);
    await world.webhooks.flush();
    expect(world.pings).toHaveLength(3);
    expect((await world.payloads(hook.id)).payloads).toHaveLength(2);

    // Re-enable and the next change pings again.
    status = 200;
    expect((await world.api('POST', `/${hook.id}/enableNotifications`, { enable: true })).status).toBe(200);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'z' } }], world.ui);
    await world.webhooks.flush();
    expect(world.pings).toHaveLength(4);
    const healthy = await info();
    expect(healthy.areNotificationsEnabled).toBe(true);
    expect(healthy.lastNotificationResult).toMatchObject({ success: true, retryNumber: 0 });
    expect(healthy.lastSuccessfulNotificationTime).toBe(world.clock.iso());
  });

  it('a hook without notificationUrl collects payloads and never pings', async () => {
    world = createWorld();
    const hook = await world.createHook(allData, null);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'x' } }], world.ui);
    await world.webhooks.flush();
    expect(world.pings).toEqual([]);
    expect((await world.payloads(hook.id)).payloads).toHaveLength(1);
    expect((await world.api('POST', `/${hook.id}/enableNotifications`, { enable: 'yes' })).status).toBe(422);
  });

  it('the retry loop sends due retries by itself once started', async () => {
    world = createWorld({ receiverStatus: () => 500, notifier: { maxRetries: 1, firstRetryMs: 10_000 } });
    await world.createHook(allData);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'x' } }], world.ui);
    await world.webhooks.flush();
    world.clock.advance(10_000);
    world.webhooks.start(5);
    await expect.poll(() => world.pings.length).toBe(2);
  });
});
