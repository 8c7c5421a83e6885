import { serveHttp as listen } from '../../src/serve-http.ts';
import { request as httpRequest } from 'node:http';

/** Serves a fetch handler over HTTP on 127.0.0.1 with an OS-chosen port. */
export async function serveHttp(
  fetchHandler: (req: Request) => Response | Promise<Response>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = await listen(fetchHandler);
  return { url: `http://127.0.0.1:${server.port}`, close: server.close };
}

export interface SeenRequest {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}

/**
 * A stand-in for `fetch` that records what the proxy sends and answers with `respond`. Used only
 * where the test is about the bytes on the wire (raw query, headers), which the emulator cannot echo.
 */
export function recordingFetch(
  respond: (req: SeenRequest) => Response | Promise<Response> = () => Response.json({}),
) {
  const seen: SeenRequest[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    const r: SeenRequest = {
      url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
      method: req.method,
      headers: req.headers,
      body: req.body ? await req.text() : '',
    };
    seen.push(r);
    return respond(r);
  };
  return { fetch: fn as typeof fetch, seen };
}

/** One HTTP request with the request line and headers exactly as given (fetch would normalise them). */
export function rawRequest(
  baseUrl: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: opts.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
