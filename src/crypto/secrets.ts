/**
 * Encryption of stored secrets (Airtable tokens, webhook MAC secrets) with a key from
 * AIRMIRROR_SECRET_KEY (docs/DESIGN.md: environment, invariant 8). Web Crypto only, so it runs the same
 * on Node and on Workers.
 *
 * Format: `v1:` + base64url(iv[12] ‖ ciphertext+tag). The version prefix lets a later key or
 * algorithm change coexist with rows sealed by this one.
 */

/** Seals and opens stored secrets: the one shape every part that stores a secret takes. */
export interface SecretBox {
  encrypt(plain: string): Promise<string>;
  decrypt(sealed: string): Promise<string>;
}

/** Raised when a sealed value cannot be opened. Its message never contains the value or the key. */
export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

const VERSION = 'v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Fixed HKDF salt/info: they only separate this use of the key from any other use of the same
// environment variable; the key's own entropy is what protects the data.
const SALT = new TextEncoder().encode('airmirror/secret-box');
const INFO = new TextEncoder().encode('airmirror v1 aes-256-gcm');

export function createSecretBox(key: string): SecretBox {
  if (typeof key !== 'string' || key.length < 16) {
    throw new SecretError('secret key must be at least 16 characters');
  }
  const aesKey = deriveKey(key);
  // Surface a derivation failure on first use, not as an unhandled rejection now.
  aesKey.catch(() => undefined);

  return {
    async encrypt(plain: string): Promise<string> {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const data = new TextEncoder().encode(plain);
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await aesKey, data));
      const out = new Uint8Array(IV_BYTES + sealed.length);
      out.set(iv, 0);
      out.set(sealed, IV_BYTES);
      return VERSION + toBase64Url(out);
    },

    async decrypt(sealed: string): Promise<string> {
      if (typeof sealed !== 'string' || !sealed.startsWith(VERSION)) {
        throw new SecretError('sealed secret has an unknown format (expected "v1:")');
      }
      const bytes = fromBase64Url(sealed.slice(VERSION.length));
      if (!bytes || bytes.length < IV_BYTES + TAG_BYTES) {
        throw new SecretError('sealed secret is malformed');
      }
      try {
        const plain = await crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: bytes.subarray(0, IV_BYTES) },
          await aesKey,
          bytes.subarray(IV_BYTES),
        );
        return new TextDecoder().decode(plain);
      } catch {
        // The cause (an OperationError) says nothing useful and is deliberately dropped.
        throw new SecretError('sealed secret failed authentication (tampered, or sealed with another key)');
      }
    },
  };
}

async function deriveKey(secret: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, [
    'deriveKey',
  ]);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: SALT, info: INFO },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  for (const ch of text) if (!ALPHABET.includes(ch)) return undefined;
  if (text.length % 4 === 1) return undefined;
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
