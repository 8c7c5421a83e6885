import { createRng, indexedIds, makeId, randomChars, type Rng } from '../ids.ts';
import type { StoredBase } from '../store/base.ts';
import { StoredTable } from '../store/table.ts';
import type { Collaborator, StoredField, StoredRecord } from '../store/types.ts';
import { choices, DATE_FORMAT, DATE_TIME_RESULT, field, hash01, pick } from './fields.ts';

/**
 * The `demo` base: Customers, Products and Orders, linked, using every field type of
 * docs/airtable-reference.md §3.3 except `manualSort` (its cell shape is unconfirmed, §7). Ids come from a
 * fixed PRNG seed, so every run has the same base. Orders is the size-knob table: its rows are made on demand
 * from their index (see StoredTable), so `records: 1_000_000` costs no time up front.
 *
 * Links: Customers."Favorite Products" ↔ Products."Fans" is reciprocal (inverseLinkFieldId);
 * Orders."Customer" and Orders."Products" are one-way links (no inverse field), which is what
 * keeps a million generated orders from having to be listed inside customer/product cells.
 */
export const DEMO_SEED = 0x5eed_a1b;
export const DEMO_BASE_ID = makeId('app', createRng(DEMO_SEED));

export const DEMO_TABLES = { customers: 'Customers', products: 'Products', orders: 'Orders' } as const;
export const DEFAULT_DEMO_RECORDS = 40;

const EPOCH = Date.UTC(2024, 0, 1);
const DAY = 86_400_000;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function attachment(rng: Rng, filename: string, width: number, height: number) {
  const id = makeId('att', rng);
  const url = (size: string) => `https://v5.airtableusercontent.com/demo/${id}/${size}/${filename}`;
  return {
    id,
    url: url('full'),
    filename,
    size: 20_000 + Math.floor(rng() * 80_000),
    type: 'image/png',
    width,
    height,
    thumbnails: {
      small: { url: url('small'), width: Math.round((36 * width) / height), height: 36 },
      large: {
        url: url('large'),
        width: Math.min(width, 512),
        height: Math.round((Math.min(width, 512) * height) / width),
      },
      full: { url: url('full'), width, height },
    },
  };
}

export function buildDemoBase(opts: { records?: number } = {}): { base: StoredBase; rng: Rng } {
  // A fresh PRNG per build (the base id was its first draw), so every build is identical.
  const rng = createRng(DEMO_SEED);
  makeId('app', rng);
  const users: Collaborator[] = [
    { id: makeId('usr', rng), email: 'ada@example.com', name: 'Ada Lovelace' },
    { id: makeId('usr', rng), email: 'grace@example.com', name: 'Grace Hopper' },
    { id: makeId('usr', rng), email: 'alan@example.com', name: 'Alan Turing' },
    { id: makeId('usr', rng), email: 'edsger@example.com', name: 'Edsger Dijkstra' },
  ];
  const customersId = makeId('tbl', rng);
  const productsId = makeId('tbl', rng);
  const ordersId = makeId('tbl', rng);

  // ---- Products ----------------------------------------------------------------------------
  const p = {
    name: field(rng, 'Name', 'singleLineText', undefined, { description: 'Product name' }),
    sku: field(rng, 'SKU', 'barcode'),
    price: field(rng, 'Price', 'currency', { precision: 2, symbol: '$' }),
    discount: field(rng, 'Discount', 'percent', { precision: 1 }),
    rating: field(rng, 'Rating', 'rating', { max: 5, icon: 'star', color: 'yellowBright' }),
    stock: field(rng, 'Stock', 'number', { precision: 0 }),
    reserved: field(rng, 'Reserved', 'number', { precision: 0 }),
    prep: field(rng, 'Prep Time', 'duration', { durationFormat: 'h:mm' }),
    launch: field(rng, 'Launch', 'dateTime', { ...DATE_TIME_RESULT.options }),
    fans: field(rng, 'Fans', 'multipleRecordLinks'),
    fanCount: field(rng, 'Fan Count', 'count'),
    margin: field(rng, 'Unit Margin', 'formula'),
    ratio: field(rng, 'Reserved Ratio', 'formula'),
    reorder: field(rng, 'Reorder', 'button', undefined, {
      hidden: { buttonLabel: 'Reorder', buttonUrl: 'https://example.com/reorder/' },
    }),
  };
  // ---- Customers ---------------------------------------------------------------------------
  const c = {
    name: field(rng, 'Name', 'singleLineText'),
    email: field(rng, 'Email', 'email'),
    phone: field(rng, 'Phone', 'phoneNumber'),
    website: field(rng, 'Website', 'url'),
    notes: field(rng, 'Notes', 'multilineText'),
    profile: field(rng, 'Profile', 'richText'),
    tier: field(rng, 'Tier', 'singleSelect', {
      choices: choices(rng, ['Bronze', 'Silver', 'Gold', 'Platinum']),
    }),
    tags: field(rng, 'Tags', 'multipleSelects', {
      choices: choices(rng, ['VIP', 'Wholesale', 'Newsletter', 'Churn risk']),
    }),
    manager: field(rng, 'Account Manager', 'singleCollaborator', {}),
    watchers: field(rng, 'Watchers', 'multipleCollaborators', {}),
    logo: field(rng, 'Logo', 'multipleAttachments', { isReversed: false }),
    active: field(rng, 'Active', 'checkbox', { icon: 'check', color: 'greenBright' }),
    since: field(rng, 'Customer Since', 'date', { ...DATE_FORMAT }),
    favorites: field(rng, 'Favorite Products', 'multipleRecordLinks'),
    favCount: field(rng, 'Favorites Count', 'count'),
    bestRating: field(rng, 'Best Favorite Rating', 'rollup', undefined, { hidden: { aggregate: 'MAX' } }),
    avgPrice: field(rng, 'Average Favorite Price', 'rollup', undefined, { hidden: { aggregate: 'AVERAGE' } }),
    number: field(rng, 'Customer No', 'autoNumber'),
    created: field(rng, 'Created', 'createdTime', { result: DATE_TIME_RESULT }),
    modified: field(rng, 'Last Modified', 'lastModifiedTime', {
      isValid: true,
      referencedFieldIds: [],
      result: DATE_TIME_RESULT,
    }),
    createdBy: field(rng, 'Created By', 'createdBy'),
    modifiedBy: field(rng, 'Last Modified By', 'lastModifiedBy', { isValid: true, referencedFieldIds: [] }),
    crm: field(rng, 'CRM Source', 'externalSyncSource', { choices: choices(rng, ['Salesforce', 'HubSpot']) }),
    summary: field(rng, 'Summary', 'aiText', {
      prompt: ['Summarise ', { field: { fieldId: '' } }],
      referencedFieldIds: [],
    }),
  };
  (c.summary.options!.prompt as unknown[])[1] = { field: { fieldId: c.notes.id } };
  c.summary.options!.referencedFieldIds = [c.notes.id];
  // ---- Orders ------------------------------------------------------------------------------
  const o = {
    order: field(rng, 'Order', 'singleLineText'),
    customer: field(rng, 'Customer', 'multipleRecordLinks', {
      linkedTableId: customersId,
      isReversed: false,
      prefersSingleRecordLink: true,
    }),
    products: field(rng, 'Products', 'multipleRecordLinks', {
      linkedTableId: productsId,
      isReversed: false,
      prefersSingleRecordLink: false,
    }),
    quantity: field(rng, 'Quantity', 'number', { precision: 0 }),
    status: field(rng, 'Status', 'singleSelect', {
      choices: choices(rng, ['New', 'Paid', 'Shipped', 'Cancelled']),
    }),
    orderedAt: field(rng, 'Ordered At', 'dateTime', { ...DATE_TIME_RESULT.options }),
    shipBy: field(rng, 'Ship By', 'date', { ...DATE_FORMAT }),
    gift: field(rng, 'Gift', 'checkbox', { icon: 'heart', color: 'redBright' }),
    notes: field(rng, 'Notes', 'multilineText'),
    productNames: field(rng, 'Product Names', 'multipleLookupValues'),
    margins: field(rng, 'Unit Margins', 'multipleLookupValues'),
    catalogTotal: field(rng, 'Catalog Total', 'rollup', undefined, { hidden: { aggregate: 'SUM' } }),
    lineCount: field(rng, 'Line Count', 'count'),
    total: field(rng, 'Total', 'formula'),
    number: field(rng, 'Order No', 'autoNumber'),
    created: field(rng, 'Created', 'createdTime', { result: DATE_TIME_RESULT }),
    modified: field(rng, 'Status Changed', 'lastModifiedTime', {
      isValid: true,
      referencedFieldIds: [],
      result: DATE_TIME_RESULT,
    }),
    createdBy: field(rng, 'Created By', 'createdBy'),
    modifiedBy: field(rng, 'Last Modified By', 'lastModifiedBy', { isValid: true, referencedFieldIds: [] }),
  };
  o.modified.options!.referencedFieldIds = [o.status.id, o.quantity.id];

  // Options that point across tables.
  p.fans.options = {
    linkedTableId: customersId,
    inverseLinkFieldId: c.favorites.id,
    isReversed: false,
    prefersSingleRecordLink: false,
  };
  c.favorites.options = {
    linkedTableId: productsId,
    inverseLinkFieldId: p.fans.id,
    isReversed: false,
    prefersSingleRecordLink: false,
  };
  p.fanCount.options = { isValid: true, recordLinkFieldId: p.fans.id };
  c.favCount.options = { isValid: true, recordLinkFieldId: c.favorites.id };
  const numberResult = (precision: number) => ({ type: 'number', options: { precision } });
  c.bestRating.options = {
    isValid: true,
    recordLinkFieldId: c.favorites.id,
    fieldIdInLinkedTable: p.rating.id,
    referencedFieldIds: [p.rating.id],
    result: numberResult(0),
  };
  c.avgPrice.options = {
    isValid: true,
    recordLinkFieldId: c.favorites.id,
    fieldIdInLinkedTable: p.price.id,
    referencedFieldIds: [p.price.id],
    result: { type: 'currency', options: { precision: 2, symbol: '$' } },
  };
  // Stock 0 makes ERROR() (the #ERROR! cell); Reserved 0 with Stock 0 makes 0/0 (the NaN cell).
  p.margin.options = formulaOptions(
    `IF({${p.stock.id}} = 0, ERROR(), {${p.price.id}} * (1 - {${p.discount.id}}))`,
    [p.stock.id, p.price.id, p.discount.id],
    numberResult(2),
  );
  p.ratio.options = formulaOptions(
    `{${p.reserved.id}} / {${p.stock.id}}`,
    [p.reserved.id, p.stock.id],
    numberResult(2),
  );
  o.productNames.options = {
    isValid: true,
    recordLinkFieldId: o.products.id,
    fieldIdInLinkedTable: p.name.id,
    result: { type: 'singleLineText' },
  };
  o.margins.options = {
    isValid: true,
    recordLinkFieldId: o.products.id,
    fieldIdInLinkedTable: p.margin.id,
    result: numberResult(2),
  };
  o.catalogTotal.options = {
    isValid: true,
    recordLinkFieldId: o.products.id,
    fieldIdInLinkedTable: p.price.id,
    referencedFieldIds: [p.price.id],
    result: { type: 'currency', options: { precision: 2, symbol: '$' } },
  };
  o.lineCount.options = { isValid: true, recordLinkFieldId: o.products.id };
  o.total.options = formulaOptions(
    `{${o.quantity.id}} * {${o.catalogTotal.id}}`,
    [o.quantity.id, o.catalogTotal.id],
    numberResult(2),
  );

  // ---- Product rows ------------------------------------------------------------------------
  const productNames = [
    'Espresso Beans',
    'Pour-over Kettle',
    'Ceramic Mug',
    'Grinder',
    'Filter Papers',
    'Cold Brew Jar',
    'Milk Frother',
    'Tea Sampler',
    'Travel Tumbler',
    'Scale',
    'Gift Card',
    'Descaler',
  ];
  const products = new StoredTable(productsId, DEMO_TABLES.products, {
    fields: Object.values(p),
    views: views(rng),
  });
  const productRecs: StoredRecord[] = productNames.map((name, i) => {
    const rec = baseRecord(rng, i, EPOCH + i * DAY, users);
    const cells = rec.cells;
    cells[p.name.id] = name;
    cells[p.sku.id] =
      i % 3 === 0
        ? { text: `0${712345678900 + i}`, type: 'upce' }
        : { text: `SKU-${1000 + i}`, type: i % 3 === 1 ? 'code39' : null };
    cells[p.price.id] = Math.round((5 + rng() * 120) * 100) / 100;
    if (i % 4 !== 0) cells[p.discount.id] = Math.round(rng() * 30) / 100;
    if (i !== 10) cells[p.rating.id] = 1 + (i % 5);
    // Gift Card (i=10) has no stock and nothing reserved: #ERROR! margin and NaN ratio.
    if (i !== 10) cells[p.stock.id] = 5 + Math.floor(rng() * 200);
    else cells[p.stock.id] = 0;
    if (i !== 10) cells[p.reserved.id] = Math.floor(rng() * 5);
    if (i % 2 === 0) cells[p.prep.id] = 60 * (5 + i);
    cells[p.launch.id] = iso(EPOCH - (i + 1) * 30 * DAY + 9 * 3_600_000);
    return rec;
  });
  for (const r of productRecs) products.put(r);

  // ---- Customer rows -----------------------------------------------------------------------
  const first = ['Ada', 'Bea', 'Cyd', 'Dee', 'Eli', 'Fay', 'Gus', 'Hal', 'Ivy', 'Jo', 'Kai', 'Lu'];
  const last = ['Arden', 'Brook', 'Cole', 'Dane', 'Ellis', 'Frost'];
  const customers = new StoredTable(customersId, DEMO_TABLES.customers, {
    fields: Object.values(c),
    views: [...views(rng), { id: makeId('viw', rng), name: 'Gallery', type: 'gallery' }],
  });
  const customerRecs: StoredRecord[] = [];
  for (let i = 0; i < 24; i++) {
    const rec = baseRecord(rng, i, EPOCH + i * 7 * DAY, users);
    const cells = rec.cells;
    const name = `${first[i % first.length]} ${last[i % last.length]}`;
    const slug = name.toLowerCase().replace(' ', '.');
    cells[c.name.id] = name;
    if (i % 6 !== 5) cells[c.email.id] = `${slug}@example.com`;
    if (i % 3 === 0) cells[c.phone.id] = `(555) 010-${String(1000 + i).slice(1)}`;
    if (i % 4 === 0) cells[c.website.id] = `https://${slug.replace('.', '-')}.example.com`;
    if (i % 2 === 0)
      cells[c.notes.id] =
        `Prefers email.\nCall <airtable:mention id="men${randomChars(rng, 14)}">@Ada Lovelace</airtable:mention> first.`;
    if (i % 5 === 0)
      cells[c.profile.id] = `**${name}** — customer since ${2015 + (i % 8)}\n\n- likes _espresso_`;
    cells[c.tier.id] = pick(['Bronze', 'Silver', 'Gold', 'Platinum'], rng());
    const tags = ['VIP', 'Wholesale', 'Newsletter', 'Churn risk'].filter(() => rng() < 0.35);
    if (tags.length) cells[c.tags.id] = tags;
    if (i % 3 !== 2) cells[c.manager.id] = { ...users[i % users.length] };
    if (i % 4 === 1)
      cells[c.watchers.id] = [{ ...users[(i + 1) % users.length] }, { ...users[(i + 2) % users.length] }];
    if (i % 3 === 0) cells[c.logo.id] = [attachment(rng, `logo-${i}.png`, 400, 300)];
    if (i % 2 === 0) cells[c.active.id] = true;
    cells[c.since.id] = iso(EPOCH - (400 - i * 13) * DAY).slice(0, 10);
    cells[c.number.id] = i + 1;
    cells[c.crm.id] = i % 2 === 0 ? 'Salesforce' : 'HubSpot';
    if (i % 4 === 0)
      cells[c.summary.id] = {
        state: 'generated',
        isStale: false,
        value: `${name} buys coffee gear regularly.`,
      };
    else if (i % 4 === 1) cells[c.summary.id] = { state: 'empty', isStale: false, value: null };
    else if (i === 2)
      cells[c.summary.id] = { state: 'error', errorType: 'emptyDependency', isStale: false, value: null };
    if (i % 5 !== 4) {
      const favs = [productRecs[i % 12].id, productRecs[(i * 5 + 3) % 12].id];
      cells[c.favorites.id] = [...new Set(favs)];
    }
    customerRecs.push(rec);
    customers.put(rec);
  }
  // Reciprocal side, in link order.
  for (const cr of customerRecs) {
    for (const pid of (cr.cells[c.favorites.id] as string[] | undefined) ?? []) {
      const pr = products.get(pid)!;
      pr.cells[p.fans.id] = [...((pr.cells[p.fans.id] as string[] | undefined) ?? []), cr.id];
    }
  }

  // ---- Orders (generated) -----------------------------------------------------------------
  const count = opts.records ?? DEFAULT_DEMO_RECORDS;
  const ids = indexedIds('rec', randomChars(rng, 8));
  const statuses = ['New', 'Paid', 'Shipped', 'Cancelled'];
  const customerIds = customerRecs.map((r) => r.id);
  const productIds = productRecs.map((r) => r.id);
  const orderNotes = ['Leave at the door', 'Gift wrap, please', 'Call on arrival'];
  const make = (i: number): StoredRecord => {
    const created = EPOCH + i * 61_000;
    const cells: Record<string, unknown> = {
      [o.order.id]: `ORD-${String(i + 1).padStart(7, '0')}`,
      [o.status.id]: pick(statuses, hash01(i, 3)),
      [o.orderedAt.id]: iso(created + Math.floor(hash01(i, 4) * 3_600_000)),
      [o.number.id]: i + 1,
    };
    if (i % 9 !== 8) cells[o.customer.id] = [pick(customerIds, hash01(i, 1))];
    const n = Math.floor(hash01(i, 2) * 4);
    if (n > 0) {
      const start = Math.floor(hash01(i, 5) * productIds.length);
      cells[o.products.id] = Array.from(
        { length: n },
        (_, k) => productIds[(start + k * 5) % productIds.length],
      );
    }
    if (i % 17 !== 16) cells[o.quantity.id] = 1 + Math.floor(hash01(i, 6) * 9);
    if (i % 3 === 0) cells[o.shipBy.id] = iso(created + 5 * DAY).slice(0, 10);
    if (i % 5 === 0) cells[o.gift.id] = true;
    if (i % 4 === 0) cells[o.notes.id] = pick(orderNotes, hash01(i, 7));
    return { id: ids.idAt(i), createdTime: created, seq: i, cells, createdBy: users[i % users.length].id };
  };
  const orders = new StoredTable(
    ordersId,
    DEMO_TABLES.orders,
    {
      fields: Object.values(o),
      views: [
        ...views(rng),
        {
          id: makeId('viw', rng),
          name: 'Open orders',
          type: 'grid',
          filterFormula: `{${o.status.id}} != 'Cancelled'`,
          sort: [{ fieldId: o.orderedAt.id, direction: 'desc' }],
          hiddenFieldIds: [o.notes.id, o.createdBy.id],
        },
      ],
    },
    { count, idAt: ids.idAt, indexOf: ids.indexOf, make },
  );

  const base: StoredBase = {
    id: DEMO_BASE_ID,
    name: 'Demo Shop',
    permissionLevel: 'create',
    tables: [customers, products, orders],
    collaborators: users,
  };
  return { base, rng };
}

function formulaOptions(formula: string, referencedFieldIds: string[], result: StoredField['options']) {
  return { formula, isValid: true, referencedFieldIds, result };
}

function views(rng: Rng) {
  return [{ id: makeId('viw', rng), name: 'Grid view', type: 'grid' }];
}

function baseRecord(rng: Rng, i: number, createdTime: number, users: Collaborator[]): StoredRecord {
  return { id: makeId('rec', rng), createdTime, seq: i, cells: {}, createdBy: users[i % users.length].id };
}
