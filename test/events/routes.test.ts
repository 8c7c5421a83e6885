import { afterAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { subscriptionRoutes } from '../../src/events/routes.ts';
import {
  DeadLetterList,
  ReplayResponse,
  SubscriptionList,
  SubscriptionResponse,
} from '../../src/events/schemas.ts';
import { insertDeadLetter } from '../../src/events/store.ts';
import type { ChangeEvent } from '../../src/events/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { ensureOutbox, Receiver, testSecrets } from './support.ts';

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
    [{ url: 42, secret: SECRET }, 'url'],
    [{ url: 'http://127.0.0.1:9/x', secret: 'x'.repeat(513) }, 'secret'],
    [{ url: 'http://127.0.0.1:9/x', secret: SECRET, tables: ['tasks', ''] }, 'tables'],
    [{ url: 'http://127.0.0.1:9/x', secret: SECRET, event_types: [7] }, 'event_types'],
    [{ url: 'http://127.0.0.1:9/x', secret: SECRET, event_types: 'record.updated' }, 'event_types'],
    // Unknown fields are refused rather than ignored (a misspelt filter would match everything).
    [{ url: 'http://127.0.0.1:9/x', secret: SECRET, event_type: ['record.updated'] }, 'event_type'],
  ])('refuses %j naming the field %s', async (body, field) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const err = (await res.json()) as { type: string; attr: string };
    expect(err).toMatchObject({ type: 'validation_error', attr: field });
  });

  it('keeps the messages it always gave', async () => {
    const detail = async (body: unknown) => ((await (await post(body)).json()) as { detail: string }).detail;
    expect(await detail({ secret: SECRET })).toBe('url is required.');
    expect(await detail({ url: 'ftp://example.com/x', secret: SECRET })).toBe(
      'url must be an absolute http(s) URL.',
    );
    expect(await detail({ url: 'https://r.example/x' })).toBe('secret is required.');
    expect(await detail({ url: 'https://r.example/x', secret: 'short' })).toBe(
      'secret must be 16 to 512 characters long.',
    );
    expect(await detail({ url: 'https://r.example/x', secret: SECRET, tables: 'tasks' })).toBe(
      'tables must be a list of non-empty strings.',
    );
    expect(
      await detail({ url: 'https://r.example/x', secret: SECRET, event_types: ['record.created'] }),
    ).toBe(
      'event_types: unknown type "record.created" (known: record.inserted, record.updated, record.deleted, schema.changed).',
    );
    const unknown = (await (
      await post({ url: 'https://r.example/x', secret: SECRET, colour: 'red' })
    ).json()) as Record<string, unknown>;
    expect(unknown).toMatchObject({
      code: 'UNKNOWN_FIELD',
      attr: 'colour',
      detail: 'Unknown field "colour"',
    });
  });

  it('refuses a body that is not JSON, or not an object', async () => {
    for (const body of ['{nope', '[1, 2]', '"text"', 'null']) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        type: 'validation_error',
        detail: 'The request body must be a JSON object.',
        attr: null,
      });
    }
  });

  it('stores filters without repeats, and an empty filter as none', async () => {
    const res = await post({
      url: 'https://receiver.example/hook',
      secret: SECRET,
      tables: ['tasks', 'tasks', 'public.people'],
      event_types: [],
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ tables: ['tasks', 'public.people'], event_types: null });
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

describe('subscription API answers match the documented schemas', () => {
  const receiver = new Receiver();
  afterAll(() => receiver.stop());

  it('shows subscriptions, dead letters and replays exactly as documented', async () => {
    await receiver.start();
    const res = await post({ url: receiver.url, secret: SECRET, event_types: ['record.deleted'] });
    const created = SubscriptionResponse.parse(await res.json());
    expect(
      SubscriptionResponse.parse(await (await api.request(`/subscriptions/${created.id}`)).json()),
    ).toEqual(created);
    const list = SubscriptionList.parse(await (await api.request('/subscriptions')).json());
    expect(list.count).toBe(list.results.length);
    expect(list.results.map((r) => r.id)).toContain(created.id);

    const event: ChangeEvent = {
      id: 41,
      type: 'record.deleted',
      source: 'src_1',
      schema: 'public',
      table: 'tasks',
      table_id: 'tblAAAAAAAAAAAAAA',
      record_id: 'recAAAAAAAAAAAAAA',
      origin: 'proxy',
      before: { name: 'gone' },
      occurred_at: '2026-01-01T00:00:00.000Z',
    };
    await db.query(
      insertDeadLetter({
        subscriptionId: created.id,
        event,
        attempts: 9,
        lastError: 'receiver answered HTTP 500',
        failedAt: new Date('2026-01-02T00:00:00Z'),
      }),
    );
    const dead = DeadLetterList.parse(
      await (await api.request(`/subscriptions/${created.id}/dead-letters`)).json(),
    );
    expect(dead.results).toEqual([
      {
        event_id: 41,
        event,
        attempts: 9,
        last_error: 'receiver answered HTTP 500',
        failed_at: '2026-01-02T00:00:00.000Z',
        replayed_at: null,
      },
    ]);

    const replay = await api.request(`/subscriptions/${created.id}/dead-letters/41/replay`, {
      method: 'POST',
    });
    expect(replay.status).toBe(200);
    expect(ReplayResponse.parse(await replay.json())).toMatchObject({
      event_id: 41,
      delivered: true,
      status: 200,
    });
    expect(receiver.received.map((r) => r.body.id)).toEqual([41]);
  });

  it.each(['0', '-3', 'abc', '1.5', '99999999999999999'])(
    'refuses the event id %s naming eventId, before looking anything up',
    async (eventId) => {
      const res = await api.request(`/subscriptions/sub_unknown/dead-letters/${eventId}/replay`, {
        method: 'POST',
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        type: 'validation_error',
        attr: 'eventId',
        detail: 'eventId must be an event id.',
      });
    },
  );
});
