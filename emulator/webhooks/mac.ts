/**
 * How the emulator signs a webhook ping, written from Airtable's documented algorithm
 * (docs/airtable-reference.md §4.4) and deliberately not shared with airmirror's verifier: a test
 * double that reused the code under test could not catch that code's mistakes.
 *
 * The ping carries `X-Airtable-Content-MAC: hmac-sha256=<lowercase hex>`, the HMAC-SHA256 of the
 * raw request body, keyed with the base64-DECODED `macSecretBase64` the webhook-create call returned.
 * Web Crypto only, so the emulator app stays runtime-neutral.
 */
export const MAC_HEADER = 'X-Airtable-Content-MAC';

export async function signPing(macSecretBase64: string, rawBody: string): Promise<string> {
  const secret = Uint8Array.from(atob(macSecretBase64), (ch) => ch.charCodeAt(0));
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(rawBody)));
  return 'hmac-sha256=' + Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}
