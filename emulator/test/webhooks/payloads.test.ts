import { afterEach, describe, expect, it } from 'vitest';
import { expectedMac } from '../helpers.ts';
import { allData, BASE, CHOICES, createWorld, F, T, USER } from './harness.ts';

let world: ReturnType<typeof createWorld>;
afterEach(async () => {
  await world.webhooks.stop();
});

describe('emulator webhooks: payloads from store changes', () => {
  it('pings with a valid MAC after a change, and list-payloads has the change', async () => {
    world = createWorld();
    const hook = await world.createHook(allData);
    expect(hook.id).toMatch(/^ach[A-Za-z0-9]{14}$/);
    expect(Date.parse(hook.expirationTime) - world.clock.now()).toBe(7 * 86_400_000);

    const [rec] = world.store.createRecords(
      BASE,
      T.projects,
      [{ fields: { Name: 'Apollo', Status: 'Todo' } }],
      world.ui,
    );
    await world.webhooks.flush();

    expect(world.pings).toHaveLength(1);
    const ping = world.pings[0];
    expect(ping.url).toBe('https://receiver.test/ping');
    expect(JSON.parse(ping.body)).toEqual({
      base: { id: BASE },
      webhook: { id: hook.id },
      timestamp: world.clock.iso(),
    });
    expect(ping.mac).toBe(expectedMac(hook.macSecretBase64, ping.body));

    const page = await world.payloads(hook.id);
    expect(page.cursor).toBe(2);
    expect(page.mightHaveMore).toBe(false);
    expect(page.payloads).toHaveLength(1);
    const p = page.payloads[0];
    expect(p).toMatchObject({
      timestamp: world.clock.iso(),
      baseTransactionNumber: 1,
      payloadFormat: 'v0',
      actionMetadata: {
        source: 'client',
        sourceMetadata: { user: { id: USER.id, email: USER.email, name: USER.name } },
      },
    });
    expect(p.changedTablesById).toEqual({
      [T.projects]: {
        createdRecordsById: {
          [rec.id]: {
            createdTime: world.clock.iso(),
            cellValuesByFieldId: { [F.name]: 'Apollo', [F.status]: CHOICES.todo },
          },
        },
      },
    });

    const list = await world.api('GET', '');
    expect(list.json.webhooks).toEqual([
      {
        id: hook.id,
        areNotificationsEnabled: true,
        cursorForNextPayload: 2,
        isHookEnabled: true,
        lastSuccessfulNotificationTime: world.clock.iso(),
        notificationUrl: 'https://receiver.test/ping',
        expirationTime: hook.expirationTime,
        lastNotificationResult: {
          success: true,
          completionTimestamp: world.clock.iso(),
          durationMs: expect.any(Number),
          retryNumber: 0,
        },
        specification: allData,
      },
    ]);
  });

  it('carries V2 cell values: selects as objects, links with names, lookups grouped, cleared cells as null', async () => {
    world = createWorld();
    const hook = await world.createHook({
      options: { filters: { dataTypes: ['tableData'] }, includes: { includePreviousCellValues: true } },
    });
    const [t1, t2] = world.store.createRecords(
      BASE,
      T.tasks,
      [{ fields: { Title: 'Design' } }, { fields: { Title: 'Build' } }],
      world.ui,
    );
    const [p] = world.store.createRecords(
      BASE,
      T.projects,
      [{ fields: { Name: 'Apollo', Status: 'Todo', Tags: ['red'], Tasks: [t1.id, t2.id] } }],
      world.ui,
    );
    world.store.updateRecords(
      BASE,
      T.projects,
      [{ id: p.id, fields: { Status: 'Done', Tags: [], Name: 'Apollo 2' } }],
      world.ui,
    );

    const { payloads } = await world.payloads(hook.id);
    expect(payloads).toHaveLength(3);
    const created = payloads[1].changedTablesById![T.projects].createdRecordsById![p.id].cellValuesByFieldId;
    expect(created[F.status]).toEqual(CHOICES.todo);
    expect(created[F.tags]).toEqual([CHOICES.red]);
    expect(created[F.tasks]).toEqual([
      { id: t1.id, name: 'Design' },
      { id: t2.id, name: 'Build' },
    ]);
    expect(created[F.taskTitles]).toEqual({
      linkedRecordIds: [t1.id, t2.id],
      valuesByLinkedRecordId: { [t1.id]: ['Design'], [t2.id]: ['Build'] },
    });
    // The reciprocal link on the tasks is a change of the Tasks table in the same payload.
    const taskChanges = payloads[1].changedTablesById![T.tasks].changedRecordsById!;
    expect(taskChanges[t1.id].current.cellValuesByFieldId[F.project]).toEqual([{ id: p.id, name: 'Apollo' }]);

    const changed = payloads[2].changedTablesById![T.projects].changedRecordsById![p.id];
    expect(changed.current.cellValuesByFieldId).toEqual({
      [F.name]: 'Apollo 2',
      [F.status]: CHOICES.done,
      [F.tags]: null,
    });
    expect(changed.previous!.cellValuesByFieldId).toEqual({
      [F.name]: 'Apollo',
      [F.status]: CHOICES.todo,
      [F.tags]: [CHOICES.red],
    });
    expect(payloads.map((x) => x.baseTransactionNumber)).toEqual([1, 2, 3]);
  });

  it('reports destroyed records and computed-field recalculations in linked records', async () => {
    world = createWorld();
    const [t1] = world.store.createRecords(BASE, T.tasks, [{ fields: { Title: 'Design' } }], world.ui);
    const [p] = world.store.createRecords(
      BASE,
      T.projects,
      [{ fields: { Name: 'Apollo', Tasks: [t1.id] } }],
      world.ui,
    );
    const hook = await world.createHook(allData);
    world.store.updateRecords(BASE, T.tasks, [{ id: t1.id, fields: { Title: 'Design v2' } }], world.ui);
    world.store.deleteRecords(BASE, T.tasks, [t1.id], world.ui);

    const { payloads } = await world.payloads(hook.id);
    expect(payloads).toHaveLength(2);
    // Editing the task's title recalculates the project's lookup (docs/airtable-reference.md §4.7: computed
    // changes are delivered).
    const lookup =
      payloads[0].changedTablesById![T.projects].changedRecordsById![p.id].current.cellValuesByFieldId;
    expect(lookup[F.taskTitles]).toEqual({
      linkedRecordIds: [t1.id],
      valuesByLinkedRecordId: { [t1.id]: ['Design v2'] },
    });
    expect(payloads[1].changedTablesById![T.tasks].destroyedRecordIds).toEqual([t1.id]);
    expect(
      payloads[1].changedTablesById![T.projects].changedRecordsById![p.id].current.cellValuesByFieldId,
    ).toMatchObject({
      [F.tasks]: null,
    });
  });

  it('coalesces a burst of changes into one ping', async () => {
    world = createWorld();
    const hook = await world.createHook(allData);
    for (const name of ['a', 'b', 'c'])
      world.store.createRecords(BASE, T.projects, [{ fields: { Name: name } }], world.ui);
    await world.webhooks.flush();
    expect(world.pings).toHaveLength(1);
    expect((await world.payloads(hook.id)).payloads).toHaveLength(3);
  });

  it('pages with cursor and limit, mightHaveMore until drained', async () => {
    world = createWorld();
    const hook = await world.createHook(allData);
    for (let i = 0; i < 5; i++)
      world.store.createRecords(BASE, T.projects, [{ fields: { Name: `p${i}` } }], world.ui);

    const first = await world.payloads(hook.id, '?limit=2');
    expect(first.payloads.map((p) => p.baseTransactionNumber)).toEqual([1, 2]);
    expect(first).toMatchObject({ cursor: 3, mightHaveMore: true });
    const second = await world.payloads(hook.id, `?cursor=${first.cursor}&limit=2`);
    expect(second.payloads.map((p) => p.baseTransactionNumber)).toEqual([3, 4]);
    expect(second).toMatchObject({ cursor: 5, mightHaveMore: true });
    const third = await world.payloads(hook.id, `?cursor=${second.cursor}&limit=2`);
    expect(third.payloads).toHaveLength(1);
    expect(third).toMatchObject({ cursor: 6, mightHaveMore: false });
    const empty = await world.payloads(hook.id, '?cursor=6');
    expect(empty).toEqual({ payloads: [], cursor: 6, mightHaveMore: false });

    expect((await world.api('GET', `/${hook.id}/payloads?limit=51`)).status).toBe(422);
    expect((await world.api('GET', `/${hook.id}/payloads?cursor=0`)).status).toBe(422);
    expect((await world.api('GET', `/${hook.id}/payloads?cursor=abc`)).status).toBe(422);
  });

  it('keeps at most 50 payloads per page by default', async () => {
    world = createWorld();
    const hook = await world.createHook(allData);
    for (let i = 0; i < 52; i++)
      world.store.createRecords(BASE, T.other, [{ fields: { Name: `o${i}` } }], world.ui);
    const page = await world.payloads(hook.id);
    expect(page.payloads).toHaveLength(50);
    expect(page).toMatchObject({ cursor: 51, mightHaveMore: true });
    expect((await world.payloads(hook.id, '?cursor=51')).payloads).toHaveLength(2);
  });
});
