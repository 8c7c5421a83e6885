import { describe, expect, it } from 'vitest';
import { FIELD_TYPES } from '../types.ts';
import { createEmulator, DEMO_BASE_ID as B } from '../index.ts';
import { call, useEmulator } from './helpers.ts';

const emulator = useEmulator();

interface Field {
  id: string;
  name: string;
  type: string;
  options?: Record<string, unknown>;
}

describe('meta API (docs/airtable-reference.md §3)', () => {
  it('lists bases', async () => {
    const r = await call('GET', '/meta/bases');
    expect(r.body.bases).toEqual([{ id: B, name: 'Demo Shop', permissionLevel: 'create' }]);
  });

  it('the demo base uses every field type of docs/airtable-reference.md §3.3 except manualSort, with ids of 17 chars', async () => {
    const { body } = await call('GET', `/meta/bases/${B}/tables`);
    const fields: Field[] = body.tables.flatMap((t: { fields: Field[] }) => t.fields);
    const types = new Set(fields.map((f) => f.type));
    expect(FIELD_TYPES.filter((t) => !types.has(t))).toEqual(['manualSort']);
    for (const f of fields) expect(f.id).toMatch(/^fld[A-Za-z0-9]{14}$/);
    const link = fields.find((f) => f.name === 'Favorite Products')!;
    const inverse = fields.find((f) => f.id === link.options!.inverseLinkFieldId)!;
    expect(inverse.options!.inverseLinkFieldId).toBe(link.id);
    expect(body.tables[0].views[0]).toEqual({
      id: expect.stringMatching(/^viw/),
      name: 'Grid view',
      type: 'grid',
    });
  });

  it('include[]=visibleFieldIds adds visible fields to grid views only', async () => {
    const { body } = await call('GET', `/meta/bases/${B}/tables?include%5B%5D=visibleFieldIds`);
    const orders = body.tables.find((t: { name: string }) => t.name === 'Orders');
    const open = orders.views.find((v: { name: string }) => v.name === 'Open orders');
    const notes = orders.fields.find((f: Field) => f.name === 'Notes').id;
    expect(open.visibleFieldIds).not.toContain(notes);
    expect(open.visibleFieldIds.length).toBe(orders.fields.length - 2);
    const gallery = body.tables[0].views.find((v: { type: string }) => v.type === 'gallery');
    expect(gallery.visibleFieldIds).toBeUndefined();
  });

  it('creates a table, a field (links get an inverse), and renames both', async () => {
    const t = await call('POST', `/meta/bases/${B}/tables`, {
      name: 'Suppliers',
      description: 'Who we buy from',
      fields: [
        { name: 'Name', type: 'singleLineText' },
        { name: 'Rank', type: 'singleSelect', options: { choices: [{ name: 'A' }] } },
      ],
    });
    expect(t.status).toBe(200);
    expect(t.body.primaryFieldId).toBe(t.body.fields[0].id);
    expect(t.body.fields[1].options.choices[0].id).toMatch(/^sel/);
    const products = emulator.store.requireTable(B, 'Products').table;
    const f = await call('POST', `/meta/bases/${B}/tables/${t.body.id}/fields`, {
      name: 'Supplies',
      type: 'multipleRecordLinks',
      options: { linkedTableId: products.id },
    });
    expect(f.status).toBe(200);
    const inverse = products.fieldById(f.body.options.inverseLinkFieldId)!;
    expect(inverse.options!.linkedTableId).toBe(t.body.id);
    const renamed = await call('PATCH', `/meta/bases/${B}/tables/${t.body.id}/fields/${f.body.id}`, {
      name: 'Products supplied',
    });
    expect(renamed.body.name).toBe('Products supplied');
    const table = await call('PATCH', `/meta/bases/${B}/tables/${t.body.id}`, { name: 'Vendors' });
    expect(table.body.name).toBe('Vendors');
    const rec = await call('POST', `/${B}/Vendors`, {
      fields: { Name: 'V', 'Products supplied': [products.iterate().next().value!.id] },
    });
    expect(rec.status).toBe(200);
    const dup = await call('POST', `/meta/bases/${B}/tables/${t.body.id}/fields`, {
      name: 'name',
      type: 'number',
    });
    expect(dup.status).toBe(422);
  });

  it('control: delete a field, change a field type, delete a table (over HTTP)', async () => {
    const ctl = (method: string, path: string, body?: unknown) =>
      emulator.app.fetch(
        new Request(`https://api.airtable.com/__emulator${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      );
    const t = emulator.control.createTable(B, {
      name: 'Scratch',
      fields: [
        { name: 'Name', type: 'singleLineText' },
        { name: 'Qty', type: 'singleLineText' },
        { name: 'Drop', type: 'number' },
      ],
    });
    emulator.control.createRecords(B, 'Scratch', [
      { fields: { Name: 'a', Qty: '42', Drop: 1 } },
      { fields: { Name: 'b', Qty: 'n/a' } },
    ]);
    expect((await ctl('PATCH', `/bases/${B}/tables/Scratch/fields/Qty`, { type: 'number' })).status).toBe(
      200,
    );
    expect((await ctl('DELETE', `/bases/${B}/tables/Scratch/fields/Drop`)).status).toBe(200);
    const list = await call('GET', `/${B}/Scratch`);
    expect(list.body.records.map((r: { fields: object }) => r.fields)).toEqual([
      { Name: 'a', Qty: 42 },
      { Name: 'b' },
    ]);
    const schema = await call('GET', `/meta/bases/${B}/tables`);
    const scratch = schema.body.tables.find((x: { id: string }) => x.id === t.id);
    expect(scratch.fields.map((f: Field) => [f.name, f.type])).toEqual([
      ['Name', 'singleLineText'],
      ['Qty', 'number'],
    ]);
    expect((await ctl('DELETE', `/bases/${B}/tables/Scratch`)).status).toBe(200);
    expect((await call('GET', `/${B}/Scratch`)).status).toBe(403);
  });
});

describe('seeds', () => {
  it('the demo base is deterministic: same ids and values on every build', async () => {
    const a = createEmulator();
    const b = createEmulator();
    const dump = (e: ReturnType<typeof createEmulator>) =>
      e.store
        .requireBase(B)
        .tables.map((t) => [t.id, t.fields.map((f) => f.id), [...t.iterate()].map((r) => [r.id, r.cells])]);
    expect(JSON.stringify(dump(a))).toBe(JSON.stringify(dump(b)));
  });

  it('every demo field has a value somewhere, and writable fields are empty somewhere', () => {
    const e = createEmulator();
    const base = e.store.requireBase(B);
    for (const t of base.tables) {
      const rows = [...t.iterate()];
      for (const f of t.fields) {
        const values = rows.map((r) => e.store.reader.value(base, t, r, f));
        expect(
          values.some((v) => v !== undefined),
          `${t.name}.${f.name} has a value`,
        ).toBe(true);
        if (
          f.id !== t.primaryFieldId &&
          [
            'singleLineText',
            'email',
            'checkbox',
            'multipleSelects',
            'multipleAttachments',
            'singleCollaborator',
          ].includes(f.type)
        ) {
          expect(
            values.some((v) => v === undefined),
            `${t.name}.${f.name} is empty somewhere`,
          ).toBe(true);
        }
      }
    }
  });

  it('the empty seed has one table and no records', () => {
    const e = createEmulator({ seed: 'empty' });
    const base = e.store.requireBase(B);
    expect(base.tables).toHaveLength(1);
    expect(base.tables[0].size).toBe(0);
  });
});
