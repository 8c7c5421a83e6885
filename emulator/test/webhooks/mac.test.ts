import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signPing } from '../../webhooks/mac.ts';
import { expectedMac } from '../helpers.ts';
import { allData, BASE, createWorld } from './harness.ts';

// A published vector (pyairtable's webhook tests): secret "secret-key", a compact ping body.
const SECRET = 'c2VjcmV0LWtleQ==';
const BODY =
  '{"base":{"id":"app00000000000000"},"webhook":{"id":"ach00000000000000"},"timestamp":"2022-02-01T21:25:05.663Z"}';
const MAC = 'hmac-sha256=6486781ffbbd5e9ed3bd9137d539ab9dceec8dba7c65c6cbf3c8c3ceefbf8802';

describe("the emulator's ping signature (docs/airtable-reference.md §4.4)", () => {
  it('matches the known vector, and node:crypto computes the same vector', async () => {
    expect(await signPing(SECRET, BODY)).toBe(MAC);
    const hex = createHmac('sha256', Buffer.from('secret-key')).update(BODY).digest('hex');
    expect(`hmac-sha256=${hex}`).toBe(MAC);
  });

  it('keys the HMAC with the decoded secret, not its base64 text', async () => {
    const wrong = createHmac('sha256', SECRET).update(BODY).digest('hex');
    expect(await signPing(SECRET, BODY)).not.toBe(`hmac-sha256=${wrong}`);
  });

  it('agrees with node:crypto on random secrets and bodies (multi-byte text included)', async () => {
    for (let i = 0; i < 20; i++) {
      const secret = randomBytes(32).toString('base64');
      const body = JSON.stringify({ n: i, text: 'Zürich – 東京 ' + randomBytes(i * 7).toString('hex') });
      expect(await signPing(secret, body)).toBe(expectedMac(secret, body));
    }
  });

  it('signs every ping it sends with the secret the create call returned', async () => {
    const world = createWorld();
    const hook = await world.createHook(allData);
    world.store.createRecords(BASE, 'Projects', [{ fields: { Name: 'A' } }]);
    await world.webhooks.flush();
    expect(world.pings).toHaveLength(1);
    const ping = world.pings[0];
    expect(ping.mac).toMatch(/^hmac-sha256=[0-9a-f]{64}$/);
    expect(ping.mac).toBe(expectedMac(hook.macSecretBase64, ping.body));
    await world.webhooks.stop();
  });
});
