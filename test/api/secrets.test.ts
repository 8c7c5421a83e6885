import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureSecretKey } from '../../src/crypto/key-file.ts';
import { createSecretBox, SecretError } from '../../src/crypto/secrets.ts';

const KEY = 'correct horse battery staple';
const TOKEN = 'patAAAAAAAAAAAAAA.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

describe('createSecretBox', () => {
  it('round-trips a value and hides it in the sealed form', async () => {
    const box = createSecretBox(KEY);
    const sealed = await box.encrypt(TOKEN);
    expect(sealed.startsWith('v1:')).toBe(true);
    expect(sealed).not.toContain(TOKEN);
    expect(sealed.slice(3)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await box.decrypt(sealed)).toBe(TOKEN);
  });

  it('round-trips unicode and the empty string', async () => {
    const box = createSecretBox(KEY);
    for (const v of ['', 'ключ 🔑 鍵']) expect(await box.decrypt(await box.encrypt(v))).toBe(v);
  });

  it('uses a fresh IV each time', async () => {
    const box = createSecretBox(KEY);
    const a = await box.encrypt(TOKEN);
    const b = await box.encrypt(TOKEN);
    expect(a).not.toBe(b);
  });

  it('opens with a second box built from the same key', async () => {
    const sealed = await createSecretBox(KEY).encrypt(TOKEN);
    expect(await createSecretBox(KEY).decrypt(sealed)).toBe(TOKEN);
  });

  it('refuses a value sealed with another key, without echoing anything secret', async () => {
    const sealed = await createSecretBox(KEY).encrypt(TOKEN);
    const err = await createSecretBox('another key of 16+ chars')
      .decrypt(sealed)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretError);
    const message = (err as Error).message;
    expect(message).toMatch(/failed authentication/);
    expect(message).not.toContain(TOKEN);
    expect(message).not.toContain(KEY);
    expect(message).not.toContain(sealed);
  });

  it('detects tampering with any byte', async () => {
    const box = createSecretBox(KEY);
    const sealed = await box.encrypt(TOKEN);
    const body = sealed.slice(3);
    for (const i of [0, 11, 12, Math.floor(body.length / 2), body.length - 2]) {
      const flipped = body[i] === 'A' ? 'B' : 'A';
      const tampered = 'v1:' + body.slice(0, i) + flipped + body.slice(i + 1);
      await expect(box.decrypt(tampered)).rejects.toThrow(SecretError);
    }
  });

  it('rejects unknown versions, malformed and truncated values', async () => {
    const box = createSecretBox(KEY);
    const sealed = await box.encrypt(TOKEN);
    await expect(box.decrypt('v2:' + sealed.slice(3))).rejects.toThrow(/unknown format/);
    await expect(box.decrypt(TOKEN)).rejects.toThrow(/unknown format/);
    await expect(box.decrypt('v1:***')).rejects.toThrow(/malformed/);
    await expect(box.decrypt('v1:' + sealed.slice(3, 20))).rejects.toThrow(/malformed/);
  });

  it('refuses a short key', () => {
    expect(() => createSecretBox('short')).toThrow(/at least 16/);
  });
});

describe('ensureSecretKey (demo mode)', () => {
  it('generates a key once, private to the owner, and reads the same key back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airmirror-key-'));
    try {
      const key = ensureSecretKey(join(dir, 'data'));
      expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(join(dir, 'data', 'secret-key')).mode & 0o777).toBe(0o600);
      expect(ensureSecretKey(join(dir, 'data'))).toBe(key);
      // Usable as the box key: a token sealed now opens after a "restart".
      const sealed = await createSecretBox(key).encrypt('tok');
      expect(await createSecretBox(ensureSecretKey(join(dir, 'data'))).decrypt(sealed)).toBe('tok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a key file that holds no usable key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airmirror-key-'));
    try {
      writeFileSync(join(dir, 'secret-key'), 'short\n');
      expect(() => ensureSecretKey(dir)).toThrow(/no usable secret key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
