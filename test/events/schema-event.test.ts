import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createDeliverer } from '../../src/events/deliverer.ts';
import { subscriptionRoutes } from '../../src/events/routes.ts';
import { ChangeEventSchema } from '../../src/events/schemas.ts';
import { createLogger } from '../../src/log.ts';
import { writeSchemaChangedEvent, type SchemaChangeSummary } from '../../src/mirror/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { Receiver, testSecrets, writeOutbox } from './support.ts';

/**
 * `schema.changed` (issue 13): one event per base's schema change, in the outbox like every change
 * event, delivered signed to receivers that want it; its `changes` name what changed, and the
 * subscription's table filter applies to the tables it names.
 */
const { db } = await createTestDatabase();
const log = createLogger({ level: 'silent' });
const SECRET = 'whsec-test-0123456789abcdef';
const api = subscriptionRoutes({ db, secrets: testSecrets, fetch });
let receiver: Receiver;

const summary: SchemaChangeSummary = {
  tables: {
    added: [],
    renamed: [{ table_id: 'tblCUSTOMERS00000', name: 'Clients', from: 'customers', to: 'clients' }],
    dropped: [],
  },
  columns: {
    added: [
      {
        mirror_table: 'orders',
        table_id: 'tblORDERS00000000',
        column: 'priority',
        field_id: 'fldPRIORITY00000',
        field: 'Priority',
        type: 'numeric',
        airtable_type: 'number',
      },
    ],
    renamed: [],
    retyped: [],
    dropped: [],
  },
  reader_objects: [
    { kind: 'view', name: 'reporting.order_notes', dropped: true, reason: 'column notes is gone' },
  ],
};

beforeAll(async () => {
  receiver = await new Receiver().start();
});
afterAll(() => receiver.stop());
beforeEach(async () => {
  receiver.received.length = 0;
  await db.query(sql('DELETE FROM airmirror.subscriptions'));
});

async function subscribe(body: Record<string, unknown>): Promise<number> {
  const res = await api.request('/subscriptions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: receiver.url, secret: SECRET, ...body }),
  });
  return res.status;
}

describe('schema.changed', () => {
  it('is delivered as documented, after the record events written before it', async () => {
    expect(await subscribe({ event_types: ['schema.changed', 'record.updated'] })).toBe(201);
    await writeOutbox(db, [{ record: 'rec1', table: 'orders', op: 'update' }]);
    await writeSchemaChangedEvent(db, { sourceId: 'src_1', schema: 'demo', summary });
    await createDeliverer({ db, fetch, secrets: testSecrets, log, listen: false }).runOnce();
    expect(receiver.received.map((r) => r.body.type)).toEqual(['record.updated', 'schema.changed']);
    const event = receiver.received[1].body;
    expect(ChangeEventSchema.parse(event)).toBeTruthy();
    expect(event).toMatchObject({
      type: 'schema.changed',
      source: 'src_1',
      schema: 'demo',
      table: null,
      table_id: null,
      record_id: null,
      origin: 'schema',
      changes: summary,
    });
    expect(event).not.toHaveProperty('before');
  });

  it('passes a table filter only when it names one of the tables the change touched', async () => {
    expect(await subscribe({ tables: ['orders'], event_types: ['schema.changed'] })).toBe(201);
    expect(await subscribe({ tables: ['demo.clients'], event_types: ['schema.changed'] })).toBe(201);
    expect(await subscribe({ tables: ['products'], event_types: ['schema.changed'] })).toBe(201);
    await writeSchemaChangedEvent(db, { sourceId: 'src_1', schema: 'demo', summary });
    await createDeliverer({ db, fetch, secrets: testSecrets, log, listen: false }).runOnce();
    expect(receiver.received).toHaveLength(2);
  });

  it('is a type subscriptions may ask for, and an unknown one is refused naming the known ones', async () => {
    const res = await api.request('/subscriptions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, secret: SECRET, event_types: ['schema.dropped'] }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('schema.changed');
  });
});
