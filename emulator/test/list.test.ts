import { describe, expect, it } from 'vitest';
import { createEmulator, DEMO_BASE_ID as B } from '../index.ts';
import { call, T0, useEmulator, type Json } from './helpers.ts';

let now = T0;
const emulator = useEmulator({ now: () => now, records: 250, offsetTtlMs: 60_000 });
const orders = emulator.store.requireTable(B, 'Orders').table;

async function listAll(path: string) {
  const ids: string[] = [];
  let offset: string | undefined;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const r = await call('GET', path + (offset ? `${sep}offset=${encodeURIComponent(offset)}` : ''));
    expect(r.status).toBe(200);
    ids.push(...r.body.records.map((x: { id: string }) => x.id));
    offset = r.body.offset;
    pages++;
  } while (offset);
  return { ids, pages };
}

describe('list records (docs/airtable-reference.md §1.1)', () => {
  it('pages through every record, 100 a page by default, offset absent on the last page', async () => {
    const { ids, pages } = await listAll(`/${B}/Orders`);
    expect(ids).toHaveLength(250);
    expect(new Set(ids).size).toBe(250);
    expect(pages).toBe(3);
  });

  it('honours pageSize ≤ 100 and refuses more', async () => {
    const r = await call('GET', `/${B}/Orders?pageSize=7`);
    expect(r.body.records).toHaveLength(7);
    expect(r.body.offset).toMatch(/^itr[A-Za-z0-9]{14}\/rec[A-Za-z0-9]{14}$/);
    expect((await call('GET', `/${B}/Orders?pageSize=101`)).status).toBe(422);
  });

  it('caps the total with maxRecords across pages', async () => {
    const { ids } = await listAll(`/${B}/Orders?pageSize=30&maxRecords=70`);
    expect(ids).toHaveLength(70);
  });

  it('offsets expire after the TTL of inactivity and on demand', async () => {
    const first = await call('GET', `/${B}/Orders?pageSize=10`);
    now += 59_000;
    const second = await call('GET', `/${B}/Orders?pageSize=10&offset=${first.body.offset}`);
    expect(second.status).toBe(200);
    now += 61_000;
    const expired = await call('GET', `/${B}/Orders?pageSize=10&offset=${second.body.offset}`);
    expect(expired.status).toBe(422);
    expect(expired.body).toEqual({ error: { type: 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE' } });
    const again = await call('GET', `/${B}/Orders?pageSize=10`);
    emulator.control.expireOffsets();
    expect((await call('GET', `/${B}/Orders?pageSize=10&offset=${again.body.offset}`)).body.error.type).toBe(
      'LIST_RECORDS_ITERATOR_NOT_AVAILABLE',
    );
  });

  it('a non-iterator offset is INVALID_OFFSET_VALUE', async () => {
    const r = await call('GET', `/${B}/Orders?offset=10`);
    expect(r.status).toBe(422);
    expect(r.body.error).toEqual({
      type: 'INVALID_OFFSET_VALUE',
      message: 'The value of offset 10 is invalid',
    });
  });

  it('restricts fields[] (names or ids) and keys by id with returnFieldsByFieldId', async () => {
    const qty = orders.field('Quantity')!.id;
    const r = await call(
      'GET',
      `/${B}/Orders?pageSize=5&fields%5B%5D=Order&fields%5B%5D=${qty}&returnFieldsByFieldId=true`,
    );
    const keys = new Set(r.body.records.flatMap((x: { fields: object }) => Object.keys(x.fields)));
    expect([...keys].sort()).toEqual([orders.field('Order')!.id, qty].sort());
    const unknown = await call('GET', `/${B}/Orders?fields%5B%5D=Nope`);
    expect(unknown.body.error.type).toBe('UNKNOWN_FIELD_NAME');
  });

  it('sorts by sort[N][field]/[direction] over all pages', async () => {
    const q = `/${B}/Orders?pageSize=100&sort%5B0%5D%5Bfield%5D=Order&sort%5B0%5D%5Bdirection%5D=desc`;
    const { ids } = await listAll(q);
    const names = ids.map((id) => orders.get(id)!.cells[orders.field('Order')!.id] as string);
    expect(names).toEqual([...names].sort().reverse());
  });

  it('filters with filterByFormula; a bad formula is INVALID_FILTER_BY_FORMULA', async () => {
    const f = encodeURIComponent(`{Status} = 'Paid'`);
    const { ids } = await listAll(`/${B}/Orders?filterByFormula=${f}`);
    const status = orders.field('Status')!.id;
    const expected = [...orders.iterate()].filter((r) => r.cells[status] === 'Paid').map((r) => r.id);
    expect(ids).toEqual(expected);
    expect(ids.length).toBeGreaterThan(0);
    const bad = await call('GET', `/${B}/Orders?filterByFormula=${encodeURIComponent('{Nope} = 1')}`);
    expect(bad.status).toBe(422);
    expect(bad.body.error.type).toBe('INVALID_FILTER_BY_FORMULA');
  });

  it('view: only its records, in its order, hidden fields still returned', async () => {
    const r = await call('GET', `/${B}/Orders?view=${encodeURIComponent('Open orders')}&pageSize=100`);
    const at = r.body.records.map((x: { fields: { 'Ordered At': string } }) => x.fields['Ordered At']);
    expect(at).toEqual([...at].sort().reverse());
    expect(r.body.records.every((x: { fields: { Status: string } }) => x.fields.Status !== 'Cancelled')).toBe(
      true,
    );
    expect(r.body.records.some((x: { fields: object }) => 'Notes' in x.fields)).toBe(true);
  });

  it('cellFormat=string requires timeZone and userLocale', async () => {
    expect((await call('GET', `/${B}/Orders?cellFormat=string`)).status).toBe(422);
    const r = await call('GET', `/${B}/Orders?cellFormat=string&timeZone=UTC&userLocale=en-us&pageSize=3`);
    expect(r.status).toBe(200);
    expect(typeof r.body.records[0].fields['Product Names']).toBe('string');
  });

  it('POST listRecords takes the options as a body, timeZone/userLocale in the query', async () => {
    const r = await call('POST', `/${B}/Orders/listRecords?timeZone=UTC&userLocale=en-us`, {
      pageSize: 5,
      cellFormat: 'string',
      fields: ['Order'],
    });
    expect(r.status).toBe(200);
    expect(r.body.records).toHaveLength(5);
    const next = await call('POST', `/${B}/Orders/listRecords?timeZone=UTC&userLocale=en-us`, {
      pageSize: 5,
      cellFormat: 'string',
      offset: r.body.offset,
    });
    expect(next.body.records[0].id).not.toBe(r.body.records[0].id);
    const noTz = await call('POST', `/${B}/Orders/listRecords`, {
      cellFormat: 'string',
      timeZone: 'UTC',
      userLocale: 'en-us',
    });
    expect(noTz.status).toBe(422);
  });

  it('rejects URLs of 16,000 characters or more; POST listRecords takes the long formula', async () => {
    const long = `OR(${Array.from({ length: 800 }, (_, i) => `{Order}='ORD-${String(i).padStart(7, '0')}'`).join(',')})`;
    const viaGet = await call('GET', `/${B}/Orders?filterByFormula=${encodeURIComponent(long)}`);
    expect(viaGet.status).toBe(414);
    const viaPost = await call('POST', `/${B}/Orders/listRecords`, { filterByFormula: long });
    expect(viaPost.status).toBe(200);
    expect(viaPost.body.records.length).toBeGreaterThan(0);
  });

  it('deleted records disappear from later pages of a listing', async () => {
    const first = await call('GET', `/${B}/Orders?pageSize=100`);
    const victim = (await call('GET', `/${B}/Orders?pageSize=100&offset=${first.body.offset}`)).body
      .records[5].id;
    emulator.control.deleteRecords(B, 'Orders', [victim]);
    const fresh = await call('GET', `/${B}/Orders?pageSize=100`);
    const rest = await call('GET', `/${B}/Orders?pageSize=100&offset=${fresh.body.offset}`);
    expect(rest.body.records.map((x: { id: string }) => x.id)).not.toContain(victim);
  });
});

describe('size knob', () => {
  it('a million-record demo base costs nothing up front; its last row is reachable by id', () => {
    const huge = createEmulator({ records: 1_000_000 });
    const table = huge.store.requireTable(B, 'Orders').table;
    expect(table.size).toBe(1_000_000);
    const last = table.iterate(999_998).next().value!;
    expect(table.get(last.id)!.cells[table.field('Order')!.id]).toBe('ORD-1000000');
    expect(table.get(last.id)!.seq).toBe(999_999);
  });

  it('a 100k-record demo base is generated lazily and pages from anywhere', async () => {
    const big = (await import('../index.ts')).createEmulator({ records: 100_000 });
    const table = big.store.requireTable(B, 'Orders').table;
    expect(table.size).toBe(100_000);
    const last = table.get(table.iterate(99_998).next().value!.id)!;
    expect(last.cells[table.field('Order')!.id]).toBe('ORD-0100000');
    const res = await big.app.fetch(
      new Request(`https://api.airtable.com/v0/${B}/Orders?pageSize=100`, {
        headers: { authorization: `Bearer ${(await import('../index.ts')).EMULATOR_TOKEN}` },
      }),
    );
    expect(((await res.json()) as Json).records).toHaveLength(100);
  });
});
