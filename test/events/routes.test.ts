import { describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { subscriptionRoutes } from '../../src/events/routes.ts';
import { createTestDatabase } from '../support/db.ts';
import { ensureOutbox, testSecrets } from './support.ts';

const { db } = await createTestDatabase();
await ensureOutbox(db);
const api = subscriptionRoutes({ db, secrets: testSecrets, fetch });
const SECRET = 'a-very-secret-value-1234';

const post = (body: unknown) =>
  api.request('/subscriptions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('subscription API', () => {
  it.each([
    [{ secret: SECRET }, 'url'],
    [{ url: 'ftp://example.com/x', secret: SECRET }, 'url'],
    [{ url: 'not a url', secret: SECRET }, 'url'],
    [{ url: 'http://127.0.0.1:9/x' }, 'secret'],
    [{ url: 'http://127.0.0.1:9/x', secret: 'short' }, 'secret'],
    [{ url: 'http://127.0.0.1:9/x', secret: SECRET, tables: 'tasks' }, 'tables'],
    [{ url: 'http://127.0.0.1:9/x', secret: SECRET, event_types: ['record.created'] }, 'event_types'],
  ])('refuses %j naming the field %s', async (body, field) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const err = (await res.json()) as { type: string; attr: string };
    expect(err).toMatchObject({ type: 'validation_error', attr: field });
  });

  it('refuses a body that is not JSON', async () => {
    const res = await post('{nope');
    expect(res.status).toBe(400);
  });

  it('creates, lists, shows and deletes a subscription without ever returning the secret', async () => {
    const res = await post({
      url: 'https://receiver.example/hook',
      secret: SECRET,
      tables: ['tasks'],
      event_types: ['record.updated'],
    });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    const created = JSON.parse(text) as {
      id: string;
      tables: string[];
      event_types: string[];
      active: boolean;
    };
    expect(created).toMatchObject({ tables: ['tasks'], event_types: ['record.updated'], active: true });

    const stored = await db.query<{ secret_encrypted: string }>(
      sql('SELECT secret_encrypted FROM airmirror.subscriptions WHERE id = $1', [created.id]),
    );
    expect(stored.rows[0].secret_encrypted).not.toContain(SECRET);
    expect(await testSecrets.decrypt(stored.rows[0].secret_encrypted)).toBe(SECRET);

    const list = await api.request('/subscriptions');
    const listText = await list.text();
    expect(listText).not.toContain(SECRET);
    expect((JSON.parse(listText) as { results: { id: string }[] }).results.map((s) => s.id)).toContain(
      created.id,
    );

    const one = await api.request(`/subscriptions/${created.id}`);
    expect(one.status).toBe(200);
    expect(await one.text()).not.toContain(SECRET);

    expect((await api.request(`/subscriptions/${created.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api.request(`/subscriptions/${created.id}`)).status).toBe(404);
    expect((await api.request(`/subscriptions/${created.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('starts a new subscription after the newest outbox row', async () => {
    await db.query(
      sql(`INSERT INTO airmirror.outbox (source_id, table_id, mirror_schema, mirror_table, record_id, op, origin)
           VALUES ('s', 'tblAAAAAAAAAAAAAA', 'public', 'tasks', 'rec1', 'insert', 'proxy')`),
    );
    const max = (await db.query<{ id: number }>(sql('SELECT max(id) AS id FROM airmirror.outbox'))).rows[0]
      .id;
    const res = await post({ url: 'https://receiver.example/hook', secret: SECRET });
    const body = (await res.json()) as { delivery: { cursor: number } };
    expect(body.delivery.cursor).toBe(Number(max));
  });
});
