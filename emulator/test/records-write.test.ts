import { describe, expect, it } from 'vitest';
import { DEMO_BASE_ID as B } from '../index.ts';
import { call, T0, useEmulator } from './helpers.ts';

const emulator = useEmulator({ now: () => T0 });
const customers = emulator.store.requireTable(B, 'Customers').table;
const products = emulator.store.requireTable(B, 'Products').table;
const fid = (name: string) => customers.field(name)!.id;

describe('create (docs/airtable-reference.md §1.3)', () => {
  it('batch form answers {records} in request order; single form answers the bare record', async () => {
    const batch = await call('POST', `/${B}/Customers`, {
      records: [{ fields: { Name: 'One', Active: true } }, { fields: { Name: 'Two' } }],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.records.map((r: { fields: { Name: string } }) => r.fields.Name)).toEqual([
      'One',
      'Two',
    ]);
    expect(batch.body.records[0].id).toMatch(/^rec[A-Za-z0-9]{14}$/);
    expect(batch.body.records[0].createdTime).toBe(new Date(T0).toISOString());
    const single = await call('POST', `/${B}/Customers`, { fields: { Name: 'Three' } });
    expect(single.status).toBe(200);
    expect(single.body.records).toBeUndefined();
    expect(single.body.fields.Name).toBe('Three');
  });

  it('omits empty cells ("", [], false) from answers', async () => {
    const r = await call('POST', `/${B}/Customers`, {
      fields: { Name: 'Empty', Notes: '', Tags: [], Active: false },
    });
    expect(Object.keys(r.body.fields)).not.toContain('Notes');
    expect(Object.keys(r.body.fields)).not.toContain('Tags');
    expect(Object.keys(r.body.fields)).not.toContain('Active');
  });

  it('refuses more than 10 records with the quoted message', async () => {
    const records = Array.from({ length: 11 }, (_, i) => ({ fields: { Name: `n${i}` } }));
    const before = customers.size;
    const r = await call('POST', `/${B}/Customers`, { records });
    expect(r.status).toBe(422);
    expect(r.body.error.message).toBe('You must provide an array of up to 10 record objects');
    expect(customers.size).toBe(before);
    const ten = await call('POST', `/${B}/Customers`, { records: records.slice(0, 10) });
    expect(ten.body.records).toHaveLength(10);
  });

  it('accepts field ids as keys and answers by id with returnFieldsByFieldId', async () => {
    const r = await call('POST', `/${B}/Customers`, {
      records: [{ fields: { [fid('Name')]: 'ById', [fid('Email')]: 'x@example.com' } }],
      returnFieldsByFieldId: true,
    });
    expect(r.body.records[0].fields[fid('Name')]).toBe('ById');
    expect(r.body.records[0].fields[fid('Email')]).toBe('x@example.com');
  });

  it('addresses tables by id and by URL-encoded name', async () => {
    const orders = emulator.store.requireTable(B, 'Orders').table;
    const byId = await call('GET', `/${B}/${orders.id}?maxRecords=1`);
    expect(byId.status).toBe(200);
    emulator.control.createTable(B, {
      name: 'Line Items & More',
      fields: [{ name: 'Label', type: 'singleLineText' }],
    });
    const created = await call('POST', `/${B}/${encodeURIComponent('Line Items & More')}`, {
      fields: { Label: 'x' },
    });
    expect(created.status).toBe(200);
    expect(created.body.fields).toEqual({ Label: 'x' });
  });

  it('unknown select option: 422 without typecast, created with typecast', async () => {
    const bad = await call('POST', `/${B}/Customers`, { fields: { Name: 'S', Tier: 'Diamond' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.type).toBe('INVALID_MULTIPLE_CHOICE_OPTIONS');
    const ok = await call('POST', `/${B}/Customers`, {
      fields: { Name: 'S', Tier: 'Diamond', Tags: ['New tag'] },
      typecast: true,
    });
    expect(ok.status).toBe(200);
    expect(ok.body.fields.Tier).toBe('Diamond');
    const schema = await call('GET', `/meta/bases/${B}/tables`);
    const tier = schema.body.tables[0].fields.find((f: { name: string }) => f.name === 'Tier');
    expect(tier.options.choices.map((c: { name: string }) => c.name)).toContain('Diamond');
    expect(tier.options.choices.find((c: { name: string }) => c.name === 'Diamond').id).toMatch(
      /^sel[A-Za-z0-9]{14}$/,
    );
  });

  it('typecast converts strings to numbers; without it the value is refused', async () => {
    const bad = await call('POST', `/${B}/Products`, { fields: { Name: 'P', Price: '12.50' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.type).toBe('INVALID_VALUE_FOR_COLUMN');
    const ok = await call('POST', `/${B}/Products`, {
      fields: { Name: 'P', Price: '12.50' },
      typecast: true,
    });
    expect(ok.body.fields.Price).toBe(12.5);
  });

  it('refuses writes to computed fields and unknown field names', async () => {
    const computed = await call('POST', `/${B}/Customers`, { fields: { Name: 'C', 'Favorites Count': 3 } });
    expect(computed.status).toBe(422);
    expect(computed.body.error.type).toBe('INVALID_VALUE_FOR_COLUMN');
    const unknown = await call('POST', `/${B}/Customers`, { fields: { Nmae: 'C' } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error).toEqual({ type: 'UNKNOWN_FIELD_NAME', message: 'Unknown field name: "Nmae"' });
  });

  it('400 for a body that is not JSON, 413 for an oversized body', async () => {
    const bad = await call('POST', `/${B}/Customers`, '{"fields": ');
    expect(bad.status).toBe(400);
    const big = await call('POST', `/${B}/Customers`, { fields: { Name: 'x'.repeat(3 * 1024 * 1024) } });
    expect(big.status).toBe(413);
  });
});

describe('cell values by type (docs/airtable-reference.md §3.3)', () => {
  it('stores attachments, collaborators, barcodes, dates and selects in their REST shapes', async () => {
    const users = emulator.store.requireBase(B).collaborators;
    const r = await call('POST', `/${B}/Customers`, {
      fields: {
        Name: 'Types',
        Logo: [{ url: 'https://example.com/a.png', filename: 'a.png' }],
        'Account Manager': { email: users[1].email },
        Watchers: [{ id: users[2].id }],
        'Customer Since': '2024-02-29',
        Tags: ['VIP', 'VIP', 'Newsletter'],
      },
    });
    expect(r.status).toBe(200);
    const f = r.body.fields;
    expect(f.Logo[0]).toMatchObject({
      id: expect.stringMatching(/^att[A-Za-z0-9]{14}$/),
      filename: 'a.png',
      type: 'image/png',
    });
    expect(f.Logo[0].thumbnails.small.url).toMatch(/^https:\/\//);
    expect(f['Account Manager']).toEqual(users[1]);
    expect(f.Watchers).toEqual([users[2]]);
    expect(f['Customer Since']).toBe('2024-02-29');
    expect(f.Tags).toEqual(['VIP', 'Newsletter']);
    // keep the existing attachment by id, add another by URL
    const att = f.Logo[0].id;
    const u = await call('PATCH', `/${B}/Customers/${r.body.id}`, {
      fields: { Logo: [{ id: att }, { url: 'https://example.com/b.jpg' }] },
    });
    expect(u.body.fields.Logo.map((a: { id: string }) => a.id)[0]).toBe(att);
    expect(u.body.fields.Logo).toHaveLength(2);
    const p = await call('POST', `/${B}/Products`, {
      fields: {
        Name: 'B',
        SKU: { text: '123', type: 'upce' },
        Launch: '2024-03-01T10:00:00.000Z',
        Rating: 4,
      },
    });
    expect(p.body.fields).toMatchObject({
      SKU: { text: '123', type: 'upce' },
      Launch: '2024-03-01T10:00:00.000Z',
      Rating: 4,
    });
    expect((await call('POST', `/${B}/Products`, { fields: { Rating: 9 } })).status).toBe(422);
    expect(
      (await call('POST', `/${B}/Customers`, { fields: { 'Account Manager': { email: 'nobody@x' } } }))
        .status,
    ).toBe(422);
  });
});

describe('update: PATCH merges, PUT clears (docs/airtable-reference.md §1.4)', () => {
  it('PATCH changes only the listed fields and answers the whole record', async () => {
    const created = await call('POST', `/${B}/Customers`, {
      fields: { Name: 'Merge', Email: 'm@example.com', Active: true },
    });
    const r = await call('PATCH', `/${B}/Customers/${created.body.id}`, {
      fields: { Email: 'new@example.com' },
    });
    expect(r.status).toBe(200);
    expect(r.body.fields).toMatchObject({ Name: 'Merge', Email: 'new@example.com', Active: true });
  });

  it('PUT clears every writable field not in the request', async () => {
    const created = await call('POST', `/${B}/Customers`, {
      fields: { Name: 'Replace', Email: 'r@example.com', Active: true },
    });
    const r = await call('PUT', `/${B}/Customers`, {
      records: [{ id: created.body.id, fields: { Name: 'Replaced' } }],
    });
    expect(r.status).toBe(200);
    const f = r.body.records[0].fields;
    expect(f.Name).toBe('Replaced');
    expect(f.Email).toBeUndefined();
    expect(f.Active).toBeUndefined();
    // computed fields are still there
    expect(f['Customer No']).toBeGreaterThan(24);
  });

  it('batch PATCH with an unknown id fails as a whole (ROW_DOES_NOT_EXIST)', async () => {
    const created = await call('POST', `/${B}/Customers`, { fields: { Name: 'Atomic' } });
    const r = await call('PATCH', `/${B}/Customers`, {
      records: [
        { id: created.body.id, fields: { Name: 'Changed' } },
        { id: 'recDoesNotExist01', fields: { Name: 'x' } },
      ],
    });
    expect(r.status).toBe(422);
    expect(r.body.error.type).toBe('ROW_DOES_NOT_EXIST');
    expect(customers.get(created.body.id)!.cells[fid('Name')]).toBe('Atomic');
  });

  it('single PATCH of an unknown record is 404 NOT_FOUND (object form)', async () => {
    const r = await call('PATCH', `/${B}/Customers/recDoesNotExist01`, { fields: { Name: 'x' } });
    expect(r.status).toBe(404);
    expect(r.body.error.type).toBe('NOT_FOUND');
  });

  it('accepts the trailing "/" and "?" airtable.js sends', async () => {
    const r = await call('POST', `/${B}/Customers/?`, { fields: { Name: 'Slash' } });
    expect(r.status).toBe(200);
    const g = await call('GET', `/${B}/Customers/${r.body.id}/?`);
    expect(g.body.fields.Name).toBe('Slash');
  });
});

describe('upsert (docs/airtable-reference.md §1.5)', () => {
  const upsert = (method: string, records: unknown[], fieldsToMergeOn: unknown = ['Email']) =>
    call(method, `/${B}/Customers`, { performUpsert: { fieldsToMergeOn }, records });

  it('creates on no match, updates on one match, and reports both lists', async () => {
    await call('POST', `/${B}/Customers`, { fields: { Name: 'Up', Email: 'up@example.com', Active: true } });
    const r = await upsert('PATCH', [
      { fields: { Email: 'up@example.com', Name: 'Up 2' } },
      { fields: { Email: 'fresh@example.com', Name: 'Fresh' } },
    ]);
    expect(r.status).toBe(200);
    expect(r.body.createdRecords).toHaveLength(1);
    expect(r.body.updatedRecords).toHaveLength(1);
    expect(r.body.records[0].id).toBe(r.body.updatedRecords[0]);
    expect(r.body.records[0].fields).toMatchObject({ Name: 'Up 2', Active: true });
    expect(r.body.records[1].id).toBe(r.body.createdRecords[0]);
  });

  it('PUT upsert clears the unlisted fields of a matched record', async () => {
    await call('POST', `/${B}/Customers`, {
      fields: { Name: 'Put', Email: 'put@example.com', Active: true },
    });
    const r = await upsert('PUT', [{ fields: { Email: 'put@example.com', Name: 'Put 2' } }]);
    expect(r.body.records[0].fields.Active).toBeUndefined();
  });

  it('fails the whole request when a record matches more than one', async () => {
    await call('POST', `/${B}/Customers`, {
      records: [
        { fields: { Name: 'Dup', Email: 'dup@example.com' } },
        { fields: { Name: 'Dup', Email: 'dup@example.com' } },
      ],
    });
    const size = customers.size;
    const r = await upsert('PATCH', [
      { fields: { Email: 'other-new@example.com' } },
      { fields: { Email: 'dup@example.com', Name: 'x' } },
    ]);
    expect(r.status).toBe(422);
    expect(customers.size).toBe(size);
  });

  it('records with an id ignore the merge fields; an unknown id fails', async () => {
    const c = await call('POST', `/${B}/Customers`, {
      fields: { Name: 'WithId', Email: 'withid@example.com' },
    });
    const ok = await upsert('PATCH', [{ id: c.body.id, fields: { Name: 'WithId 2' } }]);
    expect(ok.body.updatedRecords).toEqual([c.body.id]);
    const bad = await upsert('PATCH', [{ id: 'recDoesNotExist01', fields: { Name: 'x' } }]);
    expect(bad.status).toBe(422);
    expect(bad.body.error.type).toBe('ROW_DOES_NOT_EXIST');
  });

  it('validates fieldsToMergeOn: 1–3 fields, allowed types, present on id-less records', async () => {
    expect((await upsert('PATCH', [{ fields: { Name: 'x' } }], [])).status).toBe(422);
    expect(
      (await upsert('PATCH', [{ fields: { Name: 'x' } }], ['Name', 'Email', 'Phone', 'Notes'])).status,
    ).toBe(422);
    expect((await upsert('PATCH', [{ fields: { Name: 'x' } }], ['Customer No'])).status).toBe(422);
    expect((await upsert('PATCH', [{ fields: { Active: true } }], ['Active'])).status).toBe(422);
    expect((await upsert('PATCH', [{ fields: { Name: 'no email' } }], ['Email'])).status).toBe(422);
  });
});

describe('delete (docs/airtable-reference.md §1.6)', () => {
  it('deletes one and many; more than 10 ids are refused; unknown ids 404', async () => {
    const made = await call('POST', `/${B}/Products`, {
      records: [{ fields: { Name: 'd1' } }, { fields: { Name: 'd2' } }, { fields: { Name: 'd3' } }],
    });
    const [a, b, c] = made.body.records.map((r: { id: string }) => r.id);
    const one = await call('DELETE', `/${B}/Products/${a}`);
    expect(one.body).toEqual({ id: a, deleted: true });
    const many = await call('DELETE', `/${B}/Products?records%5B%5D=${b}&records%5B%5D=${c}`);
    expect(many.body).toEqual({
      records: [
        { id: b, deleted: true },
        { id: c, deleted: true },
      ],
    });
    expect(products.has(a) || products.has(b) || products.has(c)).toBe(false);
    const eleven = Array.from({ length: 11 }, () => `records[]=${a}`).join('&');
    expect((await call('DELETE', `/${B}/Products?${eleven}`)).status).toBe(422);
    const gone = await call('DELETE', `/${B}/Products/${a}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.type).toBe('NOT_FOUND');
  });
});
