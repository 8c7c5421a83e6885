import { beforeAll, describe, expect, it } from 'vitest';
import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN, type Emulator } from '../../emulator/index.ts';
import { createWebhookService, type WebhookService } from '../../src/webhooks/service.ts';
import { ensureSourcesFromConfig } from '../../src/bookkeeping/sources.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { createFakeClock } from '../support/fake-clock.ts';
import { waitUntil } from '../support/wait.ts';
import { API_URL, emulatorFetch, silentLog, SOURCE_ID } from '../sync/fixture.ts';

/**
 * The service's background loop: on start it reads what came while the process was down (a
 * ping per registered hook) and maintains every hook, then again each `checkIntervalMs`;
 * `stop()` ends it.
 */
const HOUR = 60 * 60 * 1000;
let t: TestDatabase;
let upstream: Emulator;
let service: WebhookService;
const clock = createFakeClock(Date.now());

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
    checkIntervalMs: HOUR,
    sleep: (ms, signal) => clock.sleep(ms, signal).catch(() => undefined),
  });
});

describe('the webhook maintenance loop', () => {
  it('resumes and maintains at start, again every interval, and not after stop()', async () => {
    await service.register(SOURCE_ID);
    expect((await service.info(SOURCE_ID)).last_ping_at).toBeNull();
    // The hook vanished at Airtable while the process was down.
    upstream = createEmulator({ records: 10 });

    service.start();
    await waitUntil(async () => (await service.info(SOURCE_ID)).recreated_count === 1, {
      what: 'the first maintenance pass',
    });
    await waitUntil(() => clock.pendingTimers() === 1, { what: 'the loop to wait' });
    expect(clock.sleeps).toEqual([HOUR]);
    await service.idle();
    // The resume ping.
    expect((await service.info(SOURCE_ID)).last_ping_at).not.toBeNull();

    upstream = createEmulator({ records: 10 });
    clock.jump(HOUR - 1);
    expect(clock.pendingTimers()).toBe(1);
    clock.jump(1);
    await waitUntil(async () => (await service.info(SOURCE_ID)).recreated_count === 2, {
      what: 'the second maintenance pass',
    });
    await waitUntil(() => clock.pendingTimers() === 1, { what: 'the loop to wait again' });

    await service.stop();
    expect(clock.pendingTimers()).toBe(0);
    upstream = createEmulator({ records: 10 });
    clock.jump(2 * HOUR);
    expect((await service.info(SOURCE_ID)).recreated_count).toBe(2);
    expect(clock.sleeps).toEqual([HOUR, HOUR]);
  });
});
