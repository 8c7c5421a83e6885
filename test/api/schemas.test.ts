import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BaseSchema } from '../../src/airtable/types.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';
import { buildApi, DEMO_BASE_ID, EMULATOR_TOKEN } from './harness.ts';

const { db } = await createTestDatabase();
const h = buildApi(db);
const hooks = buildApi(db, { publicUrl: 'https://mirror.example.com' });

let orders: { id: string; table_id: string };
let fields: Record<string, { id: string; type: string }>;

beforeAll(async () => {
  const r = await h.call('POST', '/sources', { base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN });
  expect(r.status).toBe(201);
  orders = r.json.schemas.find((s: { name: string }) => s.name === 'Orders');
  const schema = (await (
    await h.fetch(`https://api.airtable.com/v0/meta/bases/${DEMO_BASE_ID}/tables`, {
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}` },
    })
  ).json()) as BaseSchema;
  const table = schema.tables.find((t) => t.id === orders.table_id)!;
  fields = Object.fromEntries(table.fields.map((f) => [f.name, f]));
});

/** Puts the Orders config back to the defaults between tests. */
beforeEach(async () => {
  await db.query(
    sql(
      `UPDATE airmirror.tables SET sync_type = 'full_refresh', incremental_field = NULL, incremental_field_type = NULL,
         sync_frequency = '1hour', sync_time_of_day = NULL, should_sync = true, full_refresh_interval = '24hour',
         status = NULL, resync_required = false, next_run_at = NULL, high_water_mark = NULL
       WHERE id = $1`,
      [orders.id],
    ),
  );
});

const patch = (body: unknown, api = h) => api.call('PATCH', `/schemas/${orders.id}`, body);

describe('PATCH /schemas/{id}: refusals name the field', () => {
  it('cdc → 400 with the exact sentence', async () => {
    const r = await patch({ sync_type: 'cdc' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({
      type: 'validation_error',
      detail: 'cdc is not available for Airtable sources',
      attr: 'sync_type',
    });
  });

  it.each([
    [{ colour: 'red' }, 'colour'],
    [{ sync_type: 'streaming' }, 'sync_type'],
    [{ sync_frequency: '2min' }, 'sync_frequency'],
    [{ full_refresh_interval: 'never' }, 'full_refresh_interval'],
    [{ sync_time_of_day: '25:00' }, 'sync_time_of_day'],
    [{ should_sync: 'yes' }, 'should_sync'],
    [{ primary_key_columns: [] }, 'primary_key_columns'],
    [{ primary_key_columns: ['order'] }, 'primary_key_columns'],
    [{ incremental_field_type: 'dateTime' }, 'incremental_field_type'],
    [{ incremental_field_type: 'objectid' }, 'incremental_field_type'],
  ])('%j → 400 on %s', async (body, attr) => {
    const r = await patch(body);
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe(attr);
  });

  it('incremental needs an incremental_field', async () => {
    const r = await patch({ sync_type: 'incremental' });
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe('incremental_field');
  });

  it('incremental_field must be a lastModifiedTime/createdTime field of the live table', async () => {
    const r = await patch({ sync_type: 'incremental', incremental_field: fields['Order'].id });
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe('incremental_field');
    expect(r.json.detail).toContain('Status Changed');
    const missing = await patch({ sync_type: 'incremental', incremental_field: 'fldDoesNotExist00' });
    expect(missing.json.attr).toBe('incremental_field');
  });

  it("incremental_field_type must match the field's type", async () => {
    const r = await patch({
      sync_type: 'incremental',
      incremental_field: fields['Status Changed'].id,
      incremental_field_type: 'createdTime',
    });
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe('incremental_field_type');
    expect(r.json.detail).toMatch(/lastModifiedTime/);
  });

  it('webhook needs AIRMIRROR_PUBLIC_URL', async () => {
    const r = await patch({ sync_type: 'webhook' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ attr: 'sync_type', code: 'WEBHOOKS_NOT_CONFIGURED' });
    const ok = await patch({ sync_type: 'webhook' }, hooks);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ sync_type: 'webhook', resync_required: false });
  });

  it('a Running schema is not reconfigured: 409 with a hint', async () => {
    await db.query(sql(`UPDATE airmirror.tables SET status = 'Running' WHERE id = $1`, [orders.id]));
    const r = await patch({ sync_frequency: '5min' });
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ code: 'SCHEMA_RUNNING', hint: 'cancel_or_wait' });
    expect(r.json.detail).toMatch(/cancel/);
    const row = await db.query(sql('SELECT sync_frequency FROM airmirror.tables WHERE id = $1', [orders.id]));
    expect(row.rows[0].sync_frequency).toBe('1hour');
  });

  it('nothing changes on a refused request', async () => {
    await patch({ sync_frequency: '5min', sync_type: 'cdc' });
    await patch({ sync_frequency: '5min', primary_key_columns: ['x'] });
    const r = await h.call('GET', `/schemas/${orders.id}`);
    expect(r.json.sync_frequency).toBe('1hour');
  });
});

describe('PATCH /schemas/{id}: accepted changes', () => {
  it('is partial: only sent fields change; scheduling changes need no resync', async () => {
    await db.query(sql(`UPDATE airmirror.tables SET next_run_at = now() WHERE id = $1`, [orders.id]));
    const before = (await h.call('GET', `/schemas/${orders.id}`)).json;
    const r = await patch({ sync_frequency: '5min', sync_time_of_day: '02:30' });
    expect(r.status).toBe(200);
    expect(r.json.resync_required).toBe(false);
    expect(r.json.next_run_at).toBeNull(); // recomputed by the scheduler from the new settings
    const changed = { sync_frequency: '5min', sync_time_of_day: '02:30:00', next_run_at: null };
    const { updated_at: _a, ...rest } = { ...before, ...changed };
    void _a;
    expect(r.json).toMatchObject(rest);
    const cleared = await patch({ sync_time_of_day: null });
    expect(cleared.json).toMatchObject({ sync_time_of_day: null, sync_frequency: '5min' });
  });

  it('accepts the incremental field by name, stores its id and type, and requires a resync', async () => {
    const r = await patch({ sync_type: 'incremental', incremental_field: 'Status Changed' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      sync_type: 'incremental',
      incremental: true,
      incremental_field: fields['Status Changed'].id,
      incremental_field_type: 'datetime',
      incremental_field_airtable_type: 'lastModifiedTime',
      resync_required: true,
    });
    // Same field again: nothing invalidated.
    await db.query(sql(`UPDATE airmirror.tables SET resync_required = false WHERE id = $1`, [orders.id]));
    const again = await patch({ incremental_field: fields['Status Changed'].id });
    expect(again.json.resync_required).toBe(false);
    // Another field: the high-water mark of the old one is meaningless.
    await db.query(sql(`UPDATE airmirror.tables SET high_water_mark = now() WHERE id = $1`, [orders.id]));
    const other = await patch({
      incremental_field: fields['Created'].id,
      incremental_field_type: 'createdTime',
    });
    expect(other.json).toMatchObject({
      resync_required: true,
      high_water_mark: null,
      incremental_field_type: 'datetime',
      incremental_field_airtable_type: 'createdTime',
    });
  });

  it('full_refresh ↔ append requires a resync; full_refresh → incremental on a kept field does not', async () => {
    const toAppend = await patch({ sync_type: 'append' });
    expect(toAppend.json).toMatchObject({ sync_type: 'append', resync_required: true });
    await db.query(sql(`UPDATE airmirror.tables SET resync_required = false WHERE id = $1`, [orders.id]));
    const back = await patch({ sync_type: 'full_refresh' });
    expect(back.json).toMatchObject({ sync_type: 'full_refresh', resync_required: true });
    await db.query(
      sql(
        `UPDATE airmirror.tables SET resync_required = false, incremental_field = $2,
             incremental_field_type = 'lastModifiedTime' WHERE id = $1`,
        [orders.id, fields['Status Changed'].id],
      ),
    );
    const inc = await patch({ sync_type: 'incremental' });
    expect(inc.json).toMatchObject({ sync_type: 'incremental', resync_required: false });
  });

  it('cannot clear the field an incremental table needs', async () => {
    await patch({ sync_type: 'incremental', incremental_field: 'Status Changed' });
    const r = await patch({ incremental_field: null });
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe('incremental_field');
  });

  it('should_sync=false pauses, true resumes', async () => {
    const paused = await patch({ should_sync: false });
    expect(paused.json).toMatchObject({ should_sync: false, status: 'Paused' });
    const resumed = await patch({ should_sync: true });
    expect(resumed.json).toMatchObject({ should_sync: true, status: null, next_run_at: null });
  });

  it('pausing is allowed while Running', async () => {
    await db.query(sql(`UPDATE airmirror.tables SET status = 'Running' WHERE id = $1`, [orders.id]));
    const r = await patch({ should_sync: false });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ should_sync: false, status: 'Paused' });
  });

  it('primary_key_columns ["id"] is accepted', async () => {
    const r = await patch({ primary_key_columns: ['id'] });
    expect(r.status).toBe(200);
    expect(r.json.resync_required).toBe(false);
  });
});

describe('POST /schemas/{id}/incremental-fields', () => {
  it('reads the live base: candidates, availability, keys and columns', async () => {
    const r = await h.call('POST', `/schemas/${orders.id}/incremental-fields`);
    expect(r.status).toBe(200);
    // PostHog's shape ({field, field_type, label, type} in its type words), airmirror's keys beside.
    const candidate = (name: string, type: string) => ({
      field: fields[name].id,
      field_type: type,
      label: name,
      type,
      id: fields[name].id,
      name,
      airtable_type: fields[name].type,
    });
    expect(r.json.incremental_fields).toEqual(
      [
        candidate('Order No', 'integer'),
        candidate('Ordered At', 'datetime'),
        candidate('Created', 'datetime'),
        candidate('Status Changed', 'datetime'),
      ].sort((a, b) => Object.keys(fields).indexOf(a.name) - Object.keys(fields).indexOf(b.name)),
    );
    expect(r.json).toMatchObject({
      incremental_available: true,
      append_available: true,
      full_refresh_available: true,
      cdc_available: false,
      supports_webhooks: false,
      detected_primary_keys: ['id'],
    });
    const names = r.json.available_columns.map((c: { name: string }) => c.name);
    expect(names.slice(0, 2)).toEqual(['id', 'createdTime']);
    // PostHog's {field, label, type, nullable} too.
    expect(r.json.available_columns[0]).toMatchObject({
      field: 'id',
      label: 'id',
      type: 'recordId',
      nullable: false,
    });
    const quantity = r.json.available_columns.find((c: { name: string }) => c.name === 'Quantity');
    expect(quantity).toMatchObject({
      field: fields['Quantity'].id,
      label: 'Quantity',
      type: 'number',
      nullable: true,
    });
    expect(names).toContain('Order');
    expect(r.json.available_columns).toHaveLength(Object.keys(fields).length + 2);
    const withHooks = await hooks.call('POST', `/schemas/${orders.id}/incremental-fields`);
    expect(withHooks.json.supports_webhooks).toBe(true);
  });

  it('sees a new lastModifiedTime field added in Airtable', async () => {
    const f = h.emulator.control.createField(DEMO_BASE_ID, orders.table_id, {
      name: 'Notes Edited',
      type: 'lastModifiedTime',
      options: { isValid: true, referencedFieldIds: [], result: { type: 'dateTime', options: {} } },
    } as never);
    const r = await h.call('POST', `/schemas/${orders.id}/incremental-fields`);
    expect(r.json.incremental_fields.map((x: { id: string }) => x.id)).toContain(f.id);
    h.emulator.control.deleteField(DEMO_BASE_ID, orders.table_id, f.id);
  });

  it('answers 503 when this process has no Airtable client', async () => {
    const offline = buildApi(db, { airtable: undefined });
    const r = await offline.call('POST', `/schemas/${orders.id}/incremental-fields`);
    expect(r.status).toBe(503);
    expect(r.json.type).toBe('server_error');
  });
});
