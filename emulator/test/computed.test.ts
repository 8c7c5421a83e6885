import { describe, expect, it } from 'vitest';
import { DEMO_BASE_ID as B } from '../index.ts';
import type { StoreChange } from '../store/changes.ts';
import { call, T0, useEmulator } from './helpers.ts';

let now = T0;
const emulator = useEmulator({ now: () => now });
const tbl = (name: string) => emulator.store.requireTable(B, name).table;
const fieldId = (table: string, name: string) => tbl(table).field(name)!.id;

async function get(table: string, id: string) {
  return (await call('GET', `/${B}/${table}/${id}`)).body.fields;
}

describe('computed fields (docs/airtable-reference.md §3.3, §5)', () => {
  it('seeds a #ERROR! formula cell, a NaN cell, and an error inside a lookup', async () => {
    const giftCard = [...tbl('Products').iterate()].find(
      (r) => r.cells[fieldId('Products', 'Name')] === 'Gift Card',
    )!;
    const f = await get('Products', giftCard.id);
    expect(f['Unit Margin']).toEqual({ error: '#ERROR!' });
    expect(f['Reserved Ratio']).toEqual({ specialValue: 'NaN' });
    const order = (await call('POST', `/${B}/Orders`, { fields: { Order: 'E', Products: [giftCard.id] } }))
      .body;
    expect(order.fields['Unit Margins']).toEqual([{ error: '#ERROR!' }]);
  });

  it('lookups, rollups, counts and formulas follow links, in link order', async () => {
    const [p1, p2] = (
      await call('POST', `/${B}/Products`, {
        records: [{ fields: { Name: 'A1', Price: 2 } }, { fields: { Name: 'B1', Price: 3 } }],
      })
    ).body.records;
    const order = (
      await call('POST', `/${B}/Orders`, { fields: { Order: 'L', Quantity: 2, Products: [p2.id, p1.id] } })
    ).body;
    expect(order.fields['Product Names']).toEqual(['B1', 'A1']);
    expect(order.fields['Catalog Total']).toBe(5);
    expect(order.fields['Line Count']).toBe(2);
    expect(order.fields.Total).toBe(10);
    await call('PATCH', `/${B}/Products/${p1.id}`, { fields: { Name: 'A2', Price: 10 } });
    const after = await get('Orders', order.id);
    expect(after['Product Names']).toEqual(['B1', 'A2']);
    expect(after.Total).toBe(26);
  });

  it('lastModifiedTime moves only on user edits of the watched fields, never on computed changes', async () => {
    const created = T0;
    now = T0;
    const p = (await call('POST', `/${B}/Products`, { fields: { Name: 'Watch', Price: 1 } })).body;
    const o = (await call('POST', `/${B}/Orders`, { fields: { Order: 'W', Quantity: 1, Products: [p.id] } }))
      .body;
    expect(o.fields['Status Changed']).toBe(new Date(created).toISOString());
    now = T0 + 60_000;
    // A computed change (the linked product's price → Total) does not bump it...
    await call('PATCH', `/${B}/Products/${p.id}`, { fields: { Price: 5 } });
    let f = await get('Orders', o.id);
    expect(f.Total).toBe(5);
    expect(f['Status Changed']).toBe(new Date(created).toISOString());
    // ...nor does an edit of a field it does not watch...
    await call('PATCH', `/${B}/Orders/${o.id}`, { fields: { Notes: 'hi' } });
    expect((await get('Orders', o.id))['Status Changed']).toBe(new Date(created).toISOString());
    // ...but an edit of a watched field does, and records who made it.
    now = T0 + 120_000;
    emulator.control.updateRecords(B, 'Orders', [{ id: o.id, fields: { Status: 'Paid' } }]);
    f = await get('Orders', o.id);
    expect(f['Status Changed']).toBe(new Date(T0 + 120_000).toISOString());
    // Customers' "Last Modified" watches all editable fields ([]).
    const c = (await call('POST', `/${B}/Customers`, { fields: { Name: 'LM' } })).body;
    now = T0 + 180_000;
    await call('PATCH', `/${B}/Customers/${c.id}`, { fields: { Notes: 'x' } });
    expect((await get('Customers', c.id))['Last Modified']).toBe(new Date(T0 + 180_000).toISOString());
  });

  it('writing the same value again is not an edit', async () => {
    now = T0;
    const c = (await call('POST', `/${B}/Customers`, { fields: { Name: 'Same', Notes: 'n' } })).body;
    now = T0 + 10_000;
    await call('PATCH', `/${B}/Customers/${c.id}`, { fields: { Notes: 'n' } });
    expect((await get('Customers', c.id))['Last Modified']).toBe(new Date(T0).toISOString());
  });

  it('reciprocal links are updated both ways (add, remove, delete)', async () => {
    const p = (await call('POST', `/${B}/Products`, { fields: { Name: 'Recip' } })).body;
    const c = (
      await call('POST', `/${B}/Customers`, { fields: { Name: 'Fan', 'Favorite Products': [p.id] } })
    ).body;
    expect((await get('Products', p.id)).Fans).toEqual([c.id]);
    expect((await get('Products', p.id))['Fan Count']).toBe(1);
    // from the other side
    const c2 = (await call('POST', `/${B}/Customers`, { fields: { Name: 'Fan 2' } })).body;
    await call('PATCH', `/${B}/Products/${p.id}`, { fields: { Fans: [c.id, c2.id] } });
    expect((await get('Customers', c2.id))['Favorite Products']).toEqual([p.id]);
    await call('PATCH', `/${B}/Customers/${c.id}`, { fields: { 'Favorite Products': [] } });
    expect((await get('Products', p.id)).Fans).toEqual([c2.id]);
    await call('DELETE', `/${B}/Customers/${c2.id}`);
    expect((await get('Products', p.id)).Fans).toBeUndefined();
  });

  it('links to records that do not exist are refused', async () => {
    const r = await call('POST', `/${B}/Orders`, { fields: { Order: 'x', Products: ['recNope0000000000'] } });
    expect(r.status).toBe(422);
  });

  it('autoNumber counts up and createdBy/lastModifiedBy are collaborators', async () => {
    const a = (
      await call('POST', `/${B}/Customers`, {
        records: [{ fields: { Name: 'n1' } }, { fields: { Name: 'n2' } }],
      })
    ).body.records;
    expect(a[1].fields['Customer No']).toBe(a[0].fields['Customer No'] + 1);
    expect(a[0].fields['Created By']).toMatchObject({
      id: expect.stringMatching(/^usr/),
      email: expect.any(String),
    });
  });
});

describe('change feed (store.onChange)', () => {
  it('reports one change per action, with computed recalculations of linked records', async () => {
    const p = (await call('POST', `/${B}/Products`, { fields: { Name: 'Feed', Price: 4 } })).body;
    const o = (await call('POST', `/${B}/Orders`, { fields: { Order: 'F', Quantity: 2, Products: [p.id] } }))
      .body;
    const changes: StoreChange[] = [];
    const off = emulator.store.onChange((c) => changes.push(c));
    try {
      await call('PATCH', `/${B}/Products/${p.id}`, { fields: { Price: 6 } });
    } finally {
      off();
    }
    expect(changes).toHaveLength(1);
    const [change] = changes;
    expect(change.source).toBe('publicApi');
    const prod = change.tables[tbl('Products').id].changedRecords!.find((r) => r.id === p.id)!;
    expect(prod.current[fieldId('Products', 'Price')]).toBe(6);
    expect(prod.previous[fieldId('Products', 'Price')]).toBe(4);
    const ord = change.tables[tbl('Orders').id].changedRecords!.find((r) => r.id === o.id)!;
    expect(ord.current[fieldId('Orders', 'Total')]).toBe(12);
    expect(ord.previous[fieldId('Orders', 'Total')]).toBe(8);
    expect(Object.keys(ord.current)).not.toContain(fieldId('Orders', 'Order'));
  });

  it('reports creates, deletes, UI edits as client, and schema changes', async () => {
    const changes: StoreChange[] = [];
    const off = emulator.store.onChange((c) => changes.push(c));
    try {
      const made = emulator.control.createRecords(B, 'Customers', [{ fields: { Name: 'UI' } }]);
      emulator.control.deleteRecords(B, 'Customers', [made[0].id]);
      const f = emulator.control.createField(B, 'Customers', { name: 'Nickname', type: 'singleLineText' });
      emulator.control.renameField(B, 'Customers', f.id, 'Alias');
      emulator.control.deleteField(B, 'Customers', f.id);
      const cid = tbl('Customers').id;
      expect(changes.map((c) => c.source)).toEqual(['client', 'client', 'client', 'client', 'client']);
      expect(changes[0].tables[cid].createdRecords![0]).toMatchObject({
        id: made[0].id,
        cells: { [fieldId('Customers', 'Name')]: 'UI' },
      });
      expect(changes[1].tables[cid].destroyedRecordIds).toEqual([made[0].id]);
      expect(changes[2].tables[cid].createdFields).toEqual([
        { id: f.id, name: 'Nickname', type: 'singleLineText' },
      ]);
      expect(changes[3].tables[cid].changedFields).toEqual([
        { id: f.id, current: { name: 'Alias' }, previous: { name: 'Nickname' } },
      ]);
      expect(changes[4].tables[cid].destroyedFieldIds).toEqual([f.id]);
    } finally {
      off();
    }
  });

  it('a new formula field and a type change report the recalculated cells', () => {
    const t = emulator.control.createTable(B, {
      name: 'Calc',
      fields: [
        { name: 'Name', type: 'singleLineText' },
        { name: 'N', type: 'number' },
      ],
    });
    const [a, b] = emulator.control.createRecords(B, 'Calc', [
      { fields: { Name: 'a', N: 2 } },
      { fields: { Name: 'b' } },
    ]);
    const changes: StoreChange[] = [];
    const off = emulator.store.onChange((c) => changes.push(c));
    try {
      const f = emulator.control.createField(B, 'Calc', {
        name: 'Double',
        type: 'formula',
        options: { formula: '{N} * 2' },
      });
      const changed = changes[0].tables[t.id].changedRecords!;
      expect(changes[0].tables[t.id].createdFields).toEqual([{ id: f.id, name: 'Double', type: 'formula' }]);
      expect(changed.find((r) => r.id === a.id)).toEqual({
        id: a.id,
        current: { [f.id]: 4 },
        previous: { [f.id]: null },
      });
      const n = tbl('Calc').field('N')!.id;
      emulator.control.changeFieldType(B, 'Calc', 'N', 'singleLineText');
      const typed = changes[1].tables[t.id];
      expect(typed.changedFields).toEqual([
        { id: n, current: { type: 'singleLineText' }, previous: { type: 'number' } },
      ]);
      expect(typed.changedRecords!.find((r) => r.id === a.id)!.current[n]).toBe('2');
      expect(typed.changedRecords!.some((r) => r.id === b.id && n in r.current)).toBe(false);
    } finally {
      off();
    }
  });
});
