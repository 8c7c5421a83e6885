import { signatureHeader } from './event.ts';
import type { ChangeEvent } from './types.ts';

/** A receiver's answer: 2xx (delivered) or why not, with its HTTP status when one came. */
export type PostResult = { ok: true; status: number } | { ok: false; error: string; status?: number };

/**
 * POSTs one event to a receiver. 2xx = delivered; anything else (status, network error,
 * timeout) is a failure described without the URL or the secret (URLs may carry credentials).
 */
export async function postEvent(opts: {
  fetch: typeof fetch;
  url: string;
  /** The signing secrets: the current one, then (during a rotation's overlap) the replaced one. */
  secret: string | readonly string[];
  event: ChangeEvent;
  now: Date;
  timeoutMs: number;
}): Promise<PostResult> {
  const body = JSON.stringify(opts.event);
  const secrets = typeof opts.secret === 'string' ? [opts.secret] : opts.secret;
  if (hasCredentials(opts.url)) {
    // fetch refuses such a URL; say what to do (stored before they were refused, issue 16).
    return { ok: false, error: 'the subscription url contains credentials; change it (PATCH its url)' };
  }
  try {
    const res = await opts.fetch(opts.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'airmirror-events',
        'x-airmirror-signature': signatureHeader(secrets, body),
        'x-airmirror-event-id': String(opts.event.id),
        'x-airmirror-timestamp': String(Math.floor(opts.now.getTime() / 1000)),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    // Drain the body so the connection can be reused; its content does not matter.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    return { ok: false, error: `receiver answered HTTP ${res.status}`, status: res.status };
  } catch (err) {
    return { ok: false, error: describeFetchError(err) };
  }
}

function hasCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'receiver timed out';
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code) return `receiver unreachable (${cause.code})`;
    return `receiver request failed (${err.name})`;
  }
  return 'receiver request failed';
}
