import { signEventBody } from './event.ts';
import type { ChangeEvent } from './types.ts';

export type PostResult = { ok: true; status: number } | { ok: false; error: string };

/**
 * POSTs one event to a receiver. 2xx = delivered; anything else (status, network error,
 * timeout) is a failure described without the URL or the secret (URLs may carry credentials).
 */
export async function postEvent(opts: {
  fetch: typeof fetch;
  url: string;
  secret: string;
  event: ChangeEvent;
  now: Date;
  timeoutMs: number;
}): Promise<PostResult> {
  const body = JSON.stringify(opts.event);
  try {
    const res = await opts.fetch(opts.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'airmirror-events',
        'x-airmirror-signature': signEventBody(opts.secret, body),
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
    return { ok: false, error: `receiver answered HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, error: describeFetchError(err) };
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
