/**
 * PostHog's `update-webhook-inputs` shape (issue 16): `{"inputs": {"signing_secret": …}}` sets the
 * MAC secret pings are verified with (for a hook registered outside airmirror), without touching
 * the hook at Airtable; no body still rotates; `{"inputs": {}}` and unknown inputs are refused.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { sql } from '../../src/db/sql.ts';
import { webhookReceiver, webhookRoutes } from '../../src/webhooks/routes.ts';
import { WebhookInputsResponse } from '../../src/webhooks/schemas.ts';
import type { WebhookService } from '../../src/webhooks/service.ts';
import { createTestDatabase } from '../support/db.ts';
import { DEMO_BASE_ID, harness, SOURCE_ID, silentLog, type Harness } from '../sync/fixture.ts';
import { webhookService } from '../webhooks/fixture.ts';

const secrets = createSecretBox('webhook-inputs-test-key-0123456789');
let h: Harness;
let service: WebhookService;
let api: ReturnType<typeof webhookRoutes>;
let receiver: ReturnType<typeof webhookReceiver>;
let db: Awaited<ReturnType<typeof createTestDatabase>>['db'];

beforeAll(async () => {
  ({ db } = await createTestDatabase());
  h = await harness(db);
  service = webhookService(h, { secrets });
  api = webhookRoutes(service, silentLog);
  receiver = webhookReceiver(service, silentLog);
});

const hooksAtAirtable = () => h.emulator.webhooks.list(DEMO_BASE_ID).webhooks.map((w) => w.id);
const post = (path: string, body?: unknown) =>
  api.request(`/sources/${SOURCE_ID}${path}`, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
/** A ping as Airtable sends it, signed with `macSecretBase64` (docs/airtable-reference.md §4.4). */
const ping = (macSecretBase64: string) => {
  const body = JSON.stringify({
    base: { id: DEMO_BASE_ID },
    webhook: { id: hooksAtAirtable()[0] },
    timestamp: new Date().toISOString(),
  });
  const mac = createHmac('sha256', Buffer.from(macSecretBase64, 'base64')).update(body).digest('hex');
  return receiver.request(`/hooks/airtable/${SOURCE_ID}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-airtable-content-mac': `hmac-sha256=${mac}` },
    body,
  });
};

describe('update-webhook-inputs', () => {
  it('answers 404 while the source has no webhook', async () => {
    const r = await post('/update-webhook-inputs', {
      inputs: { signing_secret: randomBytes(32).toString('base64') },
    });
    expect(r.status).toBe(404);
  });

  it('sets the MAC secret pings are verified with; the hook at Airtable is untouched', async () => {
    expect((await post('/webhook', {})).status).toBe(201);
    const hooks = hooksAtAirtable();
    const airtables = (await service.macSecret(SOURCE_ID))!;
    expect((await ping(airtables)).status).toBe(200);

    const mine = randomBytes(32).toString('base64');
    const r = await post('/update-webhook-inputs', { inputs: { signing_secret: mine } });
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text).not.toContain(mine);
    const answer = WebhookInputsResponse.parse(JSON.parse(text));
    expect(answer.success).toBe(true);
    expect(answer.webhook_id).toBe(hooks[0]);
    expect(hooksAtAirtable()).toEqual(hooks);

    expect((await ping(mine)).status).toBe(200);
    expect((await ping(airtables)).status).toBe(401);
    // Stored sealed.
    const row = await db.query<{ m: string }>(
      sql('SELECT mac_secret_encrypted AS m FROM airmirror.webhooks WHERE source_id = $1', [SOURCE_ID]),
    );
    expect(row.rows[0].m).not.toContain(mine);
    expect(await secrets.decrypt(row.rows[0].m)).toBe(mine);
  });

  it.each([
    [{ inputs: {} }, 'inputs', /^No inputs provided/],
    [{ inputs: { signing_secret: 'not base64!' } }, 'inputs.signing_secret', /macSecretBase64/],
    [
      { inputs: { signing_secret: Buffer.from('short').toString('base64') } },
      'inputs.signing_secret',
      /16 bytes/,
    ],
    [{ inputs: { api_key: 'x' } }, 'inputs.api_key', /Unknown field/],
    [{ inputs: 'x' }, 'inputs', /object/],
  ])('%j → 400 naming %s', async (body, attr, detail) => {
    const before = (await service.macSecret(SOURCE_ID))!;
    for (const path of ['/webhook/inputs', '/update-webhook-inputs']) {
      const r = await post(path, body);
      expect(r.status).toBe(400);
      const json = (await r.json()) as { attr: string; detail: string };
      expect(json.attr).toBe(attr);
      expect(json.detail).toMatch(detail);
    }
    expect(await service.macSecret(SOURCE_ID)).toBe(before);
  });

  it('with no inputs, rotates as before: a new hook, a new secret from Airtable', async () => {
    const [old] = hooksAtAirtable();
    const r = await post('/update-webhook-inputs');
    expect(r.status).toBe(200);
    const answer = WebhookInputsResponse.parse(await r.json());
    expect(answer.webhook_id).not.toBe(old);
    expect(hooksAtAirtable()).toEqual([answer.webhook_id]);
    expect((await ping((await service.macSecret(SOURCE_ID))!)).status).toBe(200);
  });
});
