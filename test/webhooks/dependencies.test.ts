import { describe, expect, it } from 'vitest';
import type { AirtableField } from '../../src/airtable/types.ts';
import { closeOverFormulas, dependentLinks } from '../../src/webhooks/dependencies.ts';
import { ALL_FIELDS } from '../../src/webhooks/plan.ts';

// Options shaped as docs/airtable-reference.md §3.3 describes them (formula referencedFieldIds; lookup/rollup
// recordLinkFieldId + fieldIdInLinkedTable; count recordLinkFieldId; link linkedTableId/inverseLinkFieldId).
const products: { id: string; fields: AirtableField[] } = {
  id: 'tblProducts000001',
  fields: [
    { id: 'fldPrice', name: 'Price', type: 'currency' },
    { id: 'fldStock', name: 'Stock', type: 'number' },
    { id: 'fldName', name: 'Name', type: 'singleLineText' },
    {
      id: 'fldMargin',
      name: 'Margin',
      type: 'formula',
      options: { formula: '{fldPrice} * 0.5', referencedFieldIds: ['fldPrice'], result: { type: 'number' } },
    },
    {
      id: 'fldFans',
      name: 'Fans',
      type: 'multipleRecordLinks',
      options: { linkedTableId: 'tblCustomers00001', inverseLinkFieldId: 'fldFavs' },
    },
  ],
};
const orders: { id: string; fields: AirtableField[] } = {
  id: 'tblOrders00000001',
  fields: [
    { id: 'fldQty', name: 'Quantity', type: 'number' },
    {
      id: 'fldProducts',
      name: 'Products',
      type: 'multipleRecordLinks',
      options: { linkedTableId: products.id },
    },
    {
      id: 'fldCatalog',
      name: 'Catalog Total',
      type: 'rollup',
      options: {
        recordLinkFieldId: 'fldProducts',
        fieldIdInLinkedTable: 'fldPrice',
        result: { type: 'number' },
      },
    },
    {
      id: 'fldMargins',
      name: 'Margins',
      type: 'multipleLookupValues',
      options: {
        recordLinkFieldId: 'fldProducts',
        fieldIdInLinkedTable: 'fldMargin',
        result: { type: 'number' },
      },
    },
    { id: 'fldLines', name: 'Lines', type: 'count', options: { recordLinkFieldId: 'fldProducts' } },
    {
      id: 'fldTotal',
      name: 'Total',
      type: 'formula',
      options: { formula: '{fldQty} * {fldCatalog}', referencedFieldIds: ['fldQty', 'fldCatalog'] },
    },
  ],
};
const customers: { id: string; fields: AirtableField[] } = {
  id: 'tblCustomers00001',
  fields: [
    {
      id: 'fldFavs',
      name: 'Favorites',
      type: 'multipleRecordLinks',
      options: { linkedTableId: products.id, inverseLinkFieldId: 'fldFans' },
    },
    { id: 'fldFavCount', name: 'Favorites Count', type: 'count', options: { recordLinkFieldId: 'fldFavs' } },
    {
      id: 'fldBest',
      name: 'Best Stock',
      type: 'rollup',
      options: { recordLinkFieldId: 'fldFavs', fieldIdInLinkedTable: 'fldStock' },
    },
  ],
};
const schema = { tables: [products, orders, customers] };

describe('computed-field dependencies', () => {
  it('closes a change over formulas of the same table', () => {
    expect(closeOverFormulas(products.fields, new Set(['fldPrice']))).toEqual(
      new Set(['fldPrice', 'fldMargin']),
    );
    expect(closeOverFormulas(products.fields, new Set(['fldName']))).toEqual(new Set(['fldName']));
  });

  it('finds the rollup, the lookup over a formula, and the formula over them in a linked table', () => {
    const deps = dependentLinks(schema, products.id, new Set(['fldPrice']));
    expect(deps).toHaveLength(1);
    expect(deps[0]).toMatchObject({ tableId: orders.id, linkFieldId: 'fldProducts' });
    expect(new Set(deps[0].computedFieldIds)).toEqual(new Set(['fldCatalog', 'fldMargins', 'fldTotal']));
  });

  it('ignores changes no computed field reads', () => {
    expect(dependentLinks(schema, products.id, new Set(['fldName']))).toEqual([]);
  });

  it('follows counts only when links change, and everything when records come or go', () => {
    expect(dependentLinks(schema, products.id, new Set(['fldStock'])).map((d) => d.tableId)).toEqual([
      customers.id,
    ]);
    const viaLink = dependentLinks(schema, products.id, new Set(['fldFans']));
    expect(viaLink.find((d) => d.tableId === customers.id)?.computedFieldIds).toContain('fldFavCount');
    expect(viaLink.find((d) => d.tableId === customers.id)?.inverseLinkFieldId).toBe('fldFans');
    const all = dependentLinks(schema, products.id, new Set([ALL_FIELDS]));
    expect(all.map((d) => d.tableId).sort()).toEqual([customers.id, orders.id].sort());
    expect(all.find((d) => d.tableId === orders.id)?.computedFieldIds).toContain('fldLines');
  });
});
