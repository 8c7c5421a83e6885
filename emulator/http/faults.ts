import type { MiddlewareHandler } from 'hono';
import { MESSAGES } from '../errors.ts';

/**
 * Faults on demand for resilience tests: the next `count` matching requests fail with a 5xx/429,
 * hang until the client aborts, or get a 200 whose body is cut off mid-stream.
 */
export type FaultSpec =
  | {
      kind: 'status';
      /**
       * 429 answers RATE_LIMIT_REACHED, or PUBLIC_API_BILLING_LIMIT_EXCEEDED with `billing`
       * (docs/airtable-reference.md §2.1).
       */
      status: 429 | 500 | 502 | 503;
      billing?: boolean;
      count?: number;
      retryAfterSeconds?: number;
      match?: FaultMatch;
    }
  | { kind: 'hang'; count?: number; match?: FaultMatch }
  | { kind: 'truncate'; count?: number; match?: FaultMatch };

export interface FaultMatch {
  method?: string;
  /** Substring of the request path (e.g. a table id). */
  path?: string;
}

export class FaultInjector {
  private queue: Array<FaultSpec & { left: number }> = [];
  private readonly hung = new Set<() => void>();

  add(spec: FaultSpec): void {
    this.queue.push({ ...spec, left: spec.count ?? 1 });
  }

  /** Drop pending faults and release requests hanging right now. */
  clear(): void {
    this.queue = [];
    for (const release of this.hung) release();
    this.hung.clear();
  }

  get pending(): number {
    return this.queue.reduce((n, f) => n + f.left, 0);
  }

  private take(method: string, path: string): FaultSpec | undefined {
    const f = this.queue.find(
      (q) =>
        q.left > 0 &&
        (!q.match?.method || q.match.method.toUpperCase() === method) &&
        (!q.match?.path || path.includes(q.match.path)),
    );
    if (!f) return undefined;
    f.left--;
    this.queue = this.queue.filter((q) => q.left > 0);
    return f;
  }

  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const f = this.take(c.req.method, new URL(c.req.url).pathname);
      if (!f) return next();
      if (f.kind === 'status') {
        if (f.status === 502)
          return c.body('<html><body><h1>502 Bad Gateway</h1></body></html>', 502, {
            'content-type': 'text/html',
          });
        const body =
          f.status === 503
            ? { error: { type: 'RETRIABLE_ERROR', message: MESSAGES.retriable } }
            : f.status === 429
              ? f.billing
                ? { error: { type: 'PUBLIC_API_BILLING_LIMIT_EXCEEDED', message: MESSAGES.billing } }
                : { error: { type: 'RATE_LIMIT_REACHED', message: MESSAGES.rateLimit } }
              : { error: { type: 'SERVER_ERROR', message: 'Internal server error' } };
        const headers: Record<string, string> = {};
        if (f.retryAfterSeconds !== undefined) headers['retry-after'] = String(f.retryAfterSeconds);
        return c.json(body, f.status, headers);
      }
      if (f.kind === 'hang') {
        const signal = c.req.raw.signal;
        await new Promise<void>((resolve) => {
          const release = () => {
            this.hung.delete(release);
            resolve();
          };
          this.hung.add(release);
          signal?.addEventListener('abort', release, { once: true });
        });
        return c.body(null, 504);
      }
      // truncate: promise a JSON page, send half of it, then break the stream.
      const text = JSON.stringify({
        records: [
          {
            id: 'recTruncated00000',
            createdTime: new Date(0).toISOString(),
            fields: { Name: 'x'.repeat(64) },
          },
        ],
      });
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(text.slice(0, Math.floor(text.length / 2))));
          setTimeout(() => controller.error(new Error('emulator: connection cut mid-body')), 5);
        },
      });
      return new Response(stream, { status: 200, headers: { 'content-type': 'application/json' } });
    };
  }
}
