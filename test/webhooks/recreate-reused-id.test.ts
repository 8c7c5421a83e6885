import { beforeAll, describe, expect, it } from 'vitest';
import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { sql } from '../../src/db/sql.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN, type Emulator } from '../../emulator/index.ts';
import { createWebhookService, type WebhookService } from '../../src/webhooks/service.ts';
import { ensureSourcesFromConfig } from '../../src/bookkeeping/sources.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { API_URL, emulatorFetch, silentLog, SOURCE_ID } from '../sync/fixture.ts';

/**
 * Re-creating a hook that vanished deletes the old one at Airtable — never the one it has just
 * stored. An upstream that hands out an id again (the demo's emulator, started afresh with the
 * same seed after a restart) used to lose its new hook that way, and a second re-creation and
 * catch-up followed.
 */
let t: TestDatabase;
let upstream: Emulator;
let service: WebhookService;

const client = () =>
  createAirtableClient({
    apiUrl: API_URL,
    token: EMULATOR_TOKEN,
    fetch: emulatorFetch(upstream),
    budget: createRateBudget({ perSecond: 1_000 }),
  });

beforeAll(async () => {
  t = await createTestDatabase();
  await ensureSourcesFromConfig(t.db, {
    bases: [{ baseId: DEMO_BASE_ID, schema: 'demo' }],
    airtableToken: EMULATOR_TOKEN,
  });
  upstream = createEmulator({ records: 10 });
  service = createWebhookService({
    db: t.db,
    secrets: createSecretBox('webhook-test-key-0123456789'),
    clientFor: () => client(),
    publicUrl: 'https://airmirror.example',
    log: silentLog,
  });
});

describe('re-creating a vanished hook when the upstream reuses its id', () => {
  it('keeps the new hook, and the next maintenance finds it', async () => {
    const { webhook } = await service.register(SOURCE_ID);
    // A restart: the same emulator, fresh, knows no hook and will hand out the same id again.
    upstream = createEmulator({ records: 10 });
    expect(await client().listWebhooks(DEMO_BASE_ID)).toEqual([]);

    await service.maintain();
    const hooks = await client().listWebhooks(DEMO_BASE_ID);
    expect(hooks.map((h) => h.id)).toEqual([webhook.webhook_id]);
    const info = await service.info(SOURCE_ID);
    expect(info).toMatchObject({ webhook_id: webhook.webhook_id, status: 'active', recreated_count: 1 });

    await service.maintain();
    expect((await service.info(SOURCE_ID)).recreated_count).toBe(1);
    const rows = await t.db.query(sql('SELECT webhook_id FROM airmirror.webhooks'));
    expect(rows.rows).toEqual([{ webhook_id: webhook.webhook_id }]);
  });
});
