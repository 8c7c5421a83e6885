import { afterEach, describe, expect, it } from 'vitest';
import { BASE, createWorld, F, T } from './harness.ts';

let world: ReturnType<typeof createWorld>;
afterEach(async () => {
  await world.webhooks.stop();
});

const spec = (filters: Record<string, unknown>, includes?: Record<string, unknown>) => ({
  options: includes ? { filters, includes } : { filters },
});

describe('emulator webhooks: specification filters and includes (docs/airtable-reference.md §4.2)', () => {
  it('dataTypes: tableData sees records, tableFields sees fields, tableMetadata sees table renames', async () => {
    world = createWorld();
    const data = await world.createHook(spec({ dataTypes: ['tableData'] }));
    const fields = await world.createHook(
      spec({ dataTypes: ['tableFields'] }, { includePreviousFieldDefinitions: true }),
    );
    const meta = await world.createHook(spec({ dataTypes: ['tableMetadata'] }));

    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'x' } }], world.ui);
    const created = world.schema.createField(
      BASE,
      T.other,
      { name: 'Notes', type: 'multilineText' },
      world.ui,
    );
    world.schema.updateField(BASE, T.other, created.id, { name: 'Remarks' }, world.ui);
    world.schema.updateTable(BASE, T.other, { name: 'Others' }, world.ui);

    const d = (await world.payloads(data.id)).payloads;
    expect(d).toHaveLength(1);
    expect(d[0].changedTablesById![T.other].createdRecordsById).toBeDefined();

    const f = (await world.payloads(fields.id)).payloads;
    expect(f).toHaveLength(2);
    expect(f[0].changedTablesById![T.other].createdFieldsById).toEqual({
      [created.id]: { name: 'Notes', type: 'multilineText' },
    });
    expect(f[1].changedTablesById![T.other].changedFieldsById).toEqual({
      [created.id]: { current: { name: 'Remarks' }, previous: { name: 'Notes' } },
    });

    const m = (await world.payloads(meta.id)).payloads;
    expect(m).toHaveLength(1);
    expect(m[0].changedTablesById![T.other].changedMetadata).toMatchObject({
      current: { name: 'Others' },
      previous: { name: 'Other' },
    });
  });

  it('reports created and destroyed tables to base-wide hooks, by dataType', async () => {
    world = createWorld();
    const all = await world.createHook(spec({ dataTypes: ['tableData', 'tableFields', 'tableMetadata'] }));
    const dataOnly = await world.createHook(spec({ dataTypes: ['tableData'] }));
    const scoped = await world.createHook(
      spec({ dataTypes: ['tableFields'], recordChangeScope: T.projects }),
    );
    const table = world.schema.createTable(
      BASE,
      {
        name: 'Sprints',
        description: 'Two-week sprints',
        fields: [{ name: 'Title', type: 'singleLineText' }],
      },
      world.ui,
    );
    world.schema.deleteTable(BASE, table.id, world.ui);

    const a = (await world.payloads(all.id)).payloads;
    expect(a).toHaveLength(2);
    expect(a[0].createdTablesById).toEqual({
      [table.id]: {
        metadata: { name: 'Sprints', description: 'Two-week sprints' },
        fieldsById: { [table.fields[0].id]: { name: 'Title', type: 'singleLineText' } },
        recordsById: {},
      },
    });
    expect(a[1].destroyedTableIds).toEqual([table.id]);
    const d = (await world.payloads(dataOnly.id)).payloads;
    expect(d[0].createdTablesById).toEqual({ [table.id]: { recordsById: {} } });
    expect((await world.payloads(scoped.id)).payloads).toEqual([]);
  });

  it('recordChangeScope limits payloads to one table; a view scope adds changedViewsById', async () => {
    world = createWorld();
    const table = await world.createHook(spec({ dataTypes: ['tableData'], recordChangeScope: T.other }));
    const viewScoped = await world.createHook(
      spec({ dataTypes: ['tableData'], recordChangeScope: T.gridView }),
    );
    world.store.createRecords(BASE, T.projects, [{ fields: { Name: 'p' } }], world.ui);
    const [o] = world.store.createRecords(BASE, T.other, [{ fields: { Name: 'o' } }], world.ui);

    const t = (await world.payloads(table.id)).payloads;
    expect(t).toHaveLength(1);
    expect(Object.keys(t[0].changedTablesById!)).toEqual([T.other]);
    expect(t[0].changedTablesById![T.other].createdRecordsById![o.id]).toBeDefined();

    const v = (await world.payloads(viewScoped.id)).payloads;
    expect(v).toHaveLength(1);
    expect(Object.keys(v[0].changedTablesById!)).toEqual([T.projects]);
    expect(v[0].changedTablesById![T.projects].changedViewsById).toHaveProperty(T.gridView);
  });

  it('changeTypes keeps only the asked kinds of change', async () => {
    world = createWorld();
    const removes = await world.createHook(spec({ dataTypes: ['tableData'], changeTypes: ['remove'] }));
    const [o] = world.store.createRecords(BASE, T.other, [{ fields: { Name: 'o' } }], world.ui);
    world.store.updateRecords(BASE, T.other, [{ id: o.id, fields: { Name: 'o2' } }], world.ui);
    world.store.deleteRecords(BASE, T.other, [o.id], world.ui);
    const { payloads } = await world.payloads(removes.id);
    expect(payloads).toHaveLength(1);
    expect(payloads[0].changedTablesById).toEqual({ [T.other]: { destroyedRecordIds: [o.id] } });
  });

  it('fromSources separates UI edits (client) from API writes (publicApi)', async () => {
    world = createWorld();
    const ui = await world.createHook(spec({ dataTypes: ['tableData'], fromSources: ['client'] }));
    const api = await world.createHook(spec({ dataTypes: ['tableData'], fromSources: ['publicApi'] }));
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'from ui' } }], world.ui);
    world.store.createRecords(BASE, T.other, [{ fields: { Name: 'from api' } }], { source: 'publicApi' });
    const u = (await world.payloads(ui.id)).payloads;
    const a = (await world.payloads(api.id)).payloads;
    expect(u.map((p) => p.actionMetadata.source)).toEqual(['client']);
    expect(a.map((p) => p.actionMetadata.source)).toEqual(['publicApi']);
    expect(
      Object.values(a[0].changedTablesById![T.other].createdRecordsById!)[0].cellValuesByFieldId,
    ).toEqual({
      [F.otherName]: 'from api',
    });
  });

  it('watchDataInFieldIds: only changes touching watched fields; includes add unchanged cells, previous only on request', async () => {
    world = createWorld();
    const [p] = world.store.createRecords(
      BASE,
      T.projects,
      [{ fields: { Name: 'Apollo', Budget: 10 } }],
      world.ui,
    );
    const hook = await world.createHook(
      spec(
        { dataTypes: ['tableData'], watchDataInFieldIds: [F.budget] },
        { includeCellValuesInFieldIds: [F.name] },
      ),
    );
    world.store.updateRecords(BASE, T.projects, [{ id: p.id, fields: { Name: 'Apollo 2' } }], world.ui);
    world.store.updateRecords(BASE, T.projects, [{ id: p.id, fields: { Budget: 20 } }], world.ui);
    const { payloads } = await world.payloads(hook.id);
    expect(payloads).toHaveLength(1);
    expect(payloads[0].changedTablesById![T.projects].changedRecordsById![p.id]).toEqual({
      current: { cellValuesByFieldId: { [F.budget]: 20 } },
      unchanged: { cellValuesByFieldId: { [F.name]: 'Apollo 2' } },
    });
  });

  it('includeCellValuesInFieldIds "all" lists every other field, empty ones as null', async () => {
    world = createWorld();
    const [o] = world.store.createRecords(BASE, T.tasks, [{ fields: { Title: 't', Estimate: 3 } }], world.ui);
    const hook = await world.createHook(
      spec({ dataTypes: ['tableData'] }, { includeCellValuesInFieldIds: 'all' }),
    );
    world.store.updateRecords(BASE, T.tasks, [{ id: o.id, fields: { Estimate: 4 } }], world.ui);
    const { payloads } = await world.payloads(hook.id);
    expect(payloads[0].changedTablesById![T.tasks].changedRecordsById![o.id].unchanged).toEqual({
      cellValuesByFieldId: { [F.title]: 't', [F.project]: null },
    });
  });

  it('rejects invalid specifications with a clear 422', async () => {
    world = createWorld();
    const cases: Array<[unknown, RegExp]> = [
      [{}, /specification\.options\.filters is required/],
      [spec({ dataTypes: [] }), /dataTypes/],
      [spec({ dataTypes: ['records'] }), /filters\.dataTypes/],
      [spec({ dataTypes: ['tableData'], recordChangeScope: 'tblNope0000000000' }), /recordChangeScope/],
      [
        spec({ dataTypes: ['tableData'], watchDataInFieldIds: ['fldNope0000000000'] }),
        /unknown field ids fldNope/,
      ],
      [spec({ dataTypes: ['tableData'], changeTypes: ['modify'] }), /changeTypes/],
    ];
    for (const [specification, message] of cases) {
      const r = await world.api('POST', '', { specification });
      expect(r.status, JSON.stringify(specification)).toBe(422);
      expect(r.json.error.message).toMatch(message);
    }
    const badUrl = await world.api('POST', '', {
      notificationUrl: 'ftp://x',
      specification: spec({ dataTypes: ['tableData'] }),
    });
    expect(badUrl.status).toBe(422);
    expect((await world.api('GET', '')).json.webhooks).toEqual([]);
  });
});
