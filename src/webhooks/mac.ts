/**
 * Airtable's webhook ping signature (docs/airtable-reference.md §4.4): header
 * `X-Airtable-Content-MAC: hmac-sha256=<lowercase hex>`, HMAC-SHA256 over the *raw* request body
 * bytes with the base64-DECODED `macSecretBase64` as key. Web Crypto only, so the same code runs
 * in Node (the emulator signs, the receiver verifies) and in the Workers build.
 */

const PREFIX = 'hmac-sha256=';
const encoder = new TextEncoder();

function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64.trim());
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBytes(body: string | Uint8Array): Uint8Array<ArrayBuffer> {
  if (typeof body === 'string') return encoder.encode(body);
  const copy = new Uint8Array(body.byteLength);
  copy.set(body);
  return copy;
}

function toHex(buf: ArrayBuffer): string {
  let hex = '';
  for (const b of new Uint8Array(buf)) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** `'hmac-sha256=' + lowercase hex` of HMAC-SHA256(base64decode(secret), rawBody). */
export async function computeAirtableMac(
  macSecretBase64: string,
  rawBody: string | Uint8Array,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    base64ToBytes(macSecretBase64),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const sig = await crypto.subtle.sign('HMAC', key, toBytes(rawBody));
  return PREFIX + toHex(sig);
}

/**
 * Checks a received `X-Airtable-Content-MAC` header against the raw body. The comparison runs over
 * the full length whatever the input, so timing does not reveal how much of a forged MAC matched.
 */
export async function verifyAirtableMac(
  macSecretBase64: string,
  rawBody: string | Uint8Array,
  header: string | null | undefined,
): Promise<boolean> {
  if (typeof header !== 'string') return false;
  let expected: string;
  try {
    expected = await computeAirtableMac(macSecretBase64, rawBody);
  } catch {
    return false; // an undecodable secret verifies nothing
  }
  const given = header.trim().toLowerCase();
  let diff = given.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ (given.charCodeAt(i) | 0);
  return diff === 0;
}
