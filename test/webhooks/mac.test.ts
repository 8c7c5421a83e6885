import { describe, expect, it } from 'vitest';
import { computeAirtableMac, verifyAirtableMac } from '../../src/webhooks/mac.ts';

// docs/airtable-reference.md §4.4 test vectors (pyairtable tests/test_models_webhook.py, recomputed).
const SECRET = 'c2VjcmV0LWtleQ=='; // "secret-key"
const PY_BODY =
  '{"base": {"id": "app00000000000000"}, "webhook": {"id": "ach00000000000000"}, "timestamp": "2022-02-01T21:25:05.663Z"}';
const PY_MAC = 'hmac-sha256=e26da696a90933647bddc83995c3e1e3bb1c3d8ce1ff61cb7469767d50b2b2d4';
const COMPACT_BODY =
  '{"base":{"id":"app00000000000000"},"webhook":{"id":"ach00000000000000"},"timestamp":"2022-02-01T21:25:05.663Z"}';
const COMPACT_MAC = 'hmac-sha256=6486781ffbbd5e9ed3bd9137d539ab9dceec8dba7c65c6cbf3c8c3ceefbf8802';

describe('Airtable webhook MAC', () => {
  it('matches both reference vectors, over the raw body as string or bytes', async () => {
    expect(await computeAirtableMac(SECRET, PY_BODY)).toBe(PY_MAC);
    expect(await computeAirtableMac(SECRET, COMPACT_BODY)).toBe(COMPACT_MAC);
    expect(await computeAirtableMac(SECRET, new TextEncoder().encode(COMPACT_BODY))).toBe(COMPACT_MAC);
  });

  it('verifies the right MAC and rejects others', async () => {
    expect(await verifyAirtableMac(SECRET, PY_BODY, PY_MAC)).toBe(true);
    expect(await verifyAirtableMac(SECRET, COMPACT_BODY, COMPACT_MAC)).toBe(true);
    // The same JSON re-serialised differently is a different body: raw bytes matter.
    expect(await verifyAirtableMac(SECRET, COMPACT_BODY, PY_MAC)).toBe(false);
    expect(await verifyAirtableMac('b3RoZXIta2V5', COMPACT_BODY, COMPACT_MAC)).toBe(false);
    expect(await verifyAirtableMac(SECRET, COMPACT_BODY, COMPACT_MAC.slice(0, -1))).toBe(false);
    expect(await verifyAirtableMac(SECRET, COMPACT_BODY, COMPACT_MAC + '0')).toBe(false);
    expect(await verifyAirtableMac(SECRET, COMPACT_BODY, '')).toBe(false);
    expect(await verifyAirtableMac(SECRET, COMPACT_BODY, null)).toBe(false);
    expect(await verifyAirtableMac('%%%not base64', COMPACT_BODY, COMPACT_MAC)).toBe(false);
  });

  it('rejects a base64 digest (a known third-party mistake)', async () => {
    const hex = COMPACT_MAC.slice('hmac-sha256='.length);
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    expect(await verifyAirtableMac(SECRET, COMPACT_BODY, `hmac-sha256=${b64}`)).toBe(false);
  });
});
