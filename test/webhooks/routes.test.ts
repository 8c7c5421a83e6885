import { beforeAll, describe, expect, it } from 'vitest';
import { webhookRoutes } from '../../src/webhooks/routes.ts';
import { WebhookInputsResponse, WebhookResponse } from '../../src/webhooks/schemas.ts';
import type { WebhookService } from '../../src/webhooks/service.ts';
import { createTestDatabase } from '../support/db.ts';
import { DEMO_BASE_ID, harness, SOURCE_ID, silentLog, type Harness } from '../sync/fixture.ts';
import { webhookService } from './fixture.ts';

/**
 * The source-webhook management routes against the emulator: request validation (the POSTs take no
 * settings, so any field is refused before Airtable is touched) and answers in the documented shape.
 */
let h: Harness;
let service: WebhookService;
let api: ReturnType<typeof webhookRoutes>;

beforeAll(async () => {
  const { db } = await createTestDatabase();
  h = await harness(db);
  service = webhookService(h);
  api = webhookRoutes(service, silentLog);
});

const hooksAtAirtable = () => h.emulator.webhooks.list(DEMO_BASE_ID).webhooks.map((w) => w.id);
const send = (method: string, path: string, body?: string) =>
  api.request(`/sources/${SOURCE_ID}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body,
  });

describe('source webhook routes', () => {
  it.each([
    ['{"notification_url": "https://elsewhere.example"}', 'UNKNOWN_FIELD', 'notification_url'],
    ['{"specification": {}}', 'UNKNOWN_FIELD', 'specification'],
    ['[]', 'INVALID_REQUEST', null],
    ['{nope', 'PARSE_ERROR', null],
  ])('refuses to register with the body %s (%s, attr %s) and registers nothing', async (body, code, attr) => {
    const res = await send('POST', '/webhook', body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'validation_error', code, attr });
    expect(hooksAtAirtable()).toEqual([]);
  });

  it('registers, shows, rotates and deletes with answers in the documented shape', async () => {
    const created = await send('POST', '/webhook', '{}');
    expect(created.status).toBe(201);
    const hook = WebhookResponse.parse(await created.json());
    expect(hooksAtAirtable()).toEqual([hook.webhook_id]);
    expect(WebhookResponse.parse(await (await send('GET', '/webhook')).json())).toEqual(hook);

    // Rotation takes no settings either; a refused one leaves the hook as it was.
    const refused = await send('POST', '/webhook/inputs', '{"mac_secret": "mine"}');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: 'UNKNOWN_FIELD', attr: 'mac_secret' });
    const empty = await send('POST', '/webhook/inputs', '{"inputs": {}}');
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({
      attr: 'inputs',
      detail: expect.stringMatching(/^No inputs provided/),
    });
    expect(hooksAtAirtable()).toEqual([hook.webhook_id]);

    const rotated = await send('POST', '/webhook/inputs');
    expect(rotated.status).toBe(200);
    const next = WebhookInputsResponse.parse(await rotated.json());
    expect(next.webhook_id).not.toBe(hook.webhook_id);
    expect(hooksAtAirtable()).toEqual([next.webhook_id]);
    expect(JSON.stringify(next)).not.toContain((await service.macSecret(SOURCE_ID))!);

    expect((await send('DELETE', '/webhook')).status).toBe(204);
    expect(hooksAtAirtable()).toEqual([]);
    expect((await send('GET', '/webhook')).status).toBe(404);
  });
});
