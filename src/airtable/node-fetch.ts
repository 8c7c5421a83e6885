import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

/**
 * A `fetch` for our Airtable client built on node:http/node:https with keep-alive agents. Node's
 * built-in fetch (undici + WHATWG streams) costs ~0.6 ms of CPU per 80 KB page over loopback;
 * node:http costs ~0.25 ms — main-thread CPU the syncer spends on every page of a first sync.
 *
 * It behaves like fetch for what the client relies on (fetch-helpers.ts, client.ts): statuses,
 * headers, a buffered body read once, AbortSignal, `TypeError('fetch failed', { cause })` on network
 * failures, transparent gzip/deflate/br. Deliberate differences:
 * - Redirects are never followed (`init.redirect` is ignored): the 3xx comes back as is, with its
 *   body and `location`, so a request never leaves the configured upstream (our security rule;
 *   Airtable's API does not redirect).
 * - The body is read fully before the promise resolves (Airtable answers are small). So a body that
 *   stalls keeps the promise pending (withDeadline bounds it), and a body cut or corrupt in transit
 *   rejects the fetch itself rather than a later `res.text()`.
 * - `res.url` is '' and `res.redirected` false: neither can be set on a constructed Response.
 * - Only http: and https: URLs; any other scheme (data:, blob:, file:, …) rejects with a TypeError.
 * - Bodies other than string, BufferSource and URLSearchParams (Blob, FormData, streams) are
 *   serialised in memory first, through a Response.
 */

export interface NodeFetchOptions {
  /**
   * Concurrent sockets per origin (host:port); more requests queue. Default 256: every Airtable
   * base is one origin, and a request waits for its socket *after* the rate budget granted its
   * start — one that queued here would leave late, in a bunch with the next ones, and Airtable
   * counts arrivals (a 429 and 30 s of penalty). One process keeping 50 bases at 5 requests/s
   * has ~250 requests a second in flight at once for as long as each takes: the pool must not
   * be what limits them (the syncer's concurrency settings and the budget do).
   */
  maxSockets?: number;
  /** Delay of the TCP keep-alive probes on pooled sockets (node's Agent option). Default 1000. */
  keepAliveMsecs?: number;
  /**
   * Idle pooled sockets are closed after this long (shorter if the server's `Keep-Alive: timeout=`
   * hint says so, minus a second: node's Agent). Reusing a socket the server is about to close is
   * a reset, so stay below the upstream's idle timeout. Requests in flight are never cut by it.
   * Default 4000, undici's keep-alive timeout.
   */
  idleTimeoutMs?: number;
  /**
   * Extra CA certificates trusted for https:, on top of Node's bundled roots (a TLS-inspecting
   * proxy; tests). When set, NODE_EXTRA_CA_CERTS is no longer consulted.
   */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

export interface NodeFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /**
   * Destroys both agents' sockets, idle and in use: requests in flight reject with
   * `TypeError('fetch failed')`, and every later call rejects the same way. For shutdown.
   */
  close(): void;
}

/** Statuses whose Response must have a null body (the Response constructor throws otherwise). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
/** fetch upper-cases these method names, whatever their case, and no others. */
const NORMALIZED_METHODS: Record<string, string> = {
  delete: 'DELETE',
  get: 'GET',
  head: 'HEAD',
  options: 'OPTIONS',
  post: 'POST',
  put: 'PUT',
};
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

export function createNodeFetch(opts: NodeFetchOptions = {}): NodeFetch {
  // `timeout` on an Agent only closes *free* sockets; on a busy one it merely emits 'timeout'.
  const agentOptions = {
    keepAlive: true,
    maxSockets: opts.maxSockets ?? 256,
    keepAliveMsecs: opts.keepAliveMsecs ?? 1000,
    timeout: opts.idleTimeoutMs ?? 4000,
  };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(
    opts.ca ? { ...agentOptions, ca: [...tls.rootCertificates, ...[opts.ca].flat()] } : agentOptions,
  );
  let closed = false;

  const nodeFetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    const url = input instanceof URL ? input : new URL(typeof input === 'string' ? input : input.url);
    if (url.username || url.password) {
      // As fetch; also keeps node:http from turning them into an Authorization header.
      throw new TypeError('Request cannot be constructed from a URL that includes credentials');
    }
    const isHttps = url.protocol === 'https:';
    if (!isHttps && url.protocol !== 'http:') {
      throw fetchFailed(new Error(`URL scheme must be http: or https:, not ${url.protocol}`));
    }
    const method = normalizeMethod(init.method ?? request?.method ?? 'GET');
    const headers = headerRecord(init.headers !== undefined ? init.headers : request?.headers);
    const signal = init.signal !== undefined ? init.signal : request?.signal;

    let body: string | Buffer | null = null;
    let contentType: string | null = null;
    if (init.body !== undefined && init.body !== null) {
      ({ body, contentType } = await encodeBody(init.body));
    } else if (request?.body) {
      // As in fetch, a null init.body does not drop the Request's body.
      body = Buffer.from(await request.arrayBuffer());
    }
    if (body !== null && (method === 'GET' || method === 'HEAD')) {
      throw new TypeError('Request with GET/HEAD method cannot have body.');
    }
    if (contentType && headers['content-type'] === undefined) headers['content-type'] = contentType;
    // undici sends the same; a caller that set accept-encoding gets the bytes as encoded.
    headers['accept-encoding'] ??= 'gzip, deflate, br';
    headers.accept ??= '*/*';

    if (signal?.aborted) throw signal.reason;
    if (closed) throw fetchFailed(new Error('this fetch was closed'));
    return send(url, isHttps ? httpsAgent : httpAgent, method, headers, body, signal ?? null);
  };

  return Object.assign(nodeFetch, {
    close() {
      closed = true;
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  });
}

function send(
  url: URL,
  agent: http.Agent,
  method: string,
  headers: Record<string, string>,
  body: string | Buffer | null,
  signal: AbortSignal | null,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = (agent instanceof https.Agent ? https : http).request(url, { method, headers, agent });
    let settled = false;
    let bodyDone = false;

    const settle = () => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settle();
      // Once the body is complete the socket is back in the pool; before that it is unusable.
      if (!bodyDone) req.destroy();
      reject(err);
    };
    const onAbort = () => fail(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });

    // Errors after settling (a pooled socket failing later) land here and are ignored.
    req.on('error', (err) => fail(fetchFailed(err)));
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      fail(fetchFailed(new Error('unexpected 101 Switching Protocols')));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      // A reset mid-body: node emits 'aborted' then an ECONNRESET 'error'.
      res.on('error', (err) => fail(fetchFailed(err)));
      res.on('close', () => {
        if (!bodyDone) fail(fetchFailed(new Error('response closed before its end')));
      });
      res.on('end', () => {
        bodyDone = true;
        const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        toResponse(res, raw, method === 'HEAD').then(
          (response) => {
            if (settled) return;
            settle();
            resolve(response);
          },
          (err: unknown) => fail(fetchFailed(err)),
        );
      });
    });
    if (body === null) req.end();
    else req.end(body); // node sets content-length for a body given whole to end()
  });
}

async function toResponse(res: http.IncomingMessage, raw: Buffer, head: boolean): Promise<Response> {
  const status = res.statusCode ?? 0;
  const nullBody = head || NULL_BODY_STATUSES.has(status);
  const body = nullBody ? null : await decode(raw, res.headers['content-encoding']);
  // rawHeaders keeps repeated headers apart; Headers joins them with ', ' as fetch does, and keeps
  // set-cookie lines separate (getSetCookie()). Content-Encoding/-Length stay as sent, as in fetch.
  const rawHeaders = res.rawHeaders;
  const pairs: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) pairs.push([rawHeaders[i], rawHeaders[i + 1]]);
  // Throws a RangeError for a status outside 200–599 (fetch cannot represent those either).
  // A Buffer is a Uint8Array over an ArrayBuffer here; its type only admits SharedArrayBuffer too.
  return new Response(body as Uint8Array<ArrayBuffer> | null, {
    status,
    statusText: res.statusMessage ?? '',
    headers: pairs,
  });
}

// Lenient flushing as in undici: a stream that ends early yields what it has instead of failing.
const ZLIB_OPTIONS = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
const BROTLI_OPTIONS = {
  flush: zlib.constants.BROTLI_OPERATION_FLUSH,
  finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
};
const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotli = promisify(zlib.brotliDecompress);

/** One-shot async zlib on the whole body: the work runs on the libuv pool, not the main thread. */
const DECODERS: Record<string, (buf: Buffer) => Promise<Buffer>> = {
  gzip: (buf) => gunzip(buf, ZLIB_OPTIONS),
  'x-gzip': (buf) => gunzip(buf, ZLIB_OPTIONS),
  // "deflate" should be zlib-wrapped (RFC 9110), but some servers send raw deflate: look at the
  // zlib header (CM = 8 and a valid check) the way undici does.
  deflate: (buf) =>
    (buf[0] & 0x0f) === 8 && buf.length > 1 && ((buf[0] << 8) | buf[1]) % 31 === 0
      ? inflate(buf, ZLIB_OPTIONS)
      : inflateRaw(buf, ZLIB_OPTIONS),
  br: (buf) => brotli(buf, BROTLI_OPTIONS),
};

async function decode(raw: Buffer, contentEncoding: string | undefined): Promise<Buffer> {
  if (!contentEncoding || raw.length === 0) return raw;
  const codings = contentEncoding
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '' && c !== 'identity');
  // An unknown coding anywhere: hand over the bytes as sent, as undici does.
  if (codings.some((c) => !Object.hasOwn(DECODERS, c))) return raw;
  let out = raw;
  // Codings are listed in the order they were applied; undo them last first.
  for (let i = codings.length - 1; i >= 0; i--) out = await DECODERS[codings[i]](out);
  return out;
}

function normalizeMethod(method: string): string {
  const normalized = NORMALIZED_METHODS[method.toLowerCase()] ?? method;
  if (FORBIDDEN_METHODS.has(normalized.toUpperCase())) {
    throw new TypeError(`'${method}' HTTP method is unsupported.`);
  }
  return normalized;
}

/** Any HeadersInit as lower-cased names (values trimmed, repeats joined as Headers does). */
function headerRecord(init: HeadersInit | undefined | null): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (!init) return out;
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
    out[key] = out[key] === undefined ? v : `${out[key]}, ${v}`;
  };
  if (init instanceof Headers) {
    init.forEach((value, name) => add(name, value));
  } else if (Array.isArray(init)) {
    for (const pair of init) {
      if (pair.length !== 2) throw new TypeError('Header pairs must contain exactly a name and a value');
      add(pair[0], pair[1]);
    }
  } else {
    for (const name of Object.keys(init)) add(name, (init as Record<string, string>)[name]);
  }
  return out;
}

async function encodeBody(body: BodyInit): Promise<{ body: string | Buffer; contentType: string | null }> {
  if (typeof body === 'string') return { body, contentType: 'text/plain;charset=UTF-8' };
  if (body instanceof URLSearchParams) {
    return { body: body.toString(), contentType: 'application/x-www-form-urlencoded;charset=UTF-8' };
  }
  if (ArrayBuffer.isView(body)) {
    return { body: Buffer.from(body.buffer, body.byteOffset, body.byteLength), contentType: null };
  }
  if (body instanceof ArrayBuffer) return { body: Buffer.from(body), contentType: null };
  // Blob, FormData, ReadableStream: not on our hot path; let undici serialise them (and pick the
  // multipart boundary / blob type).
  const serialised = new Response(body);
  const bytes = Buffer.from(await serialised.arrayBuffer());
  return { body: bytes, contentType: serialised.headers.get('content-type') };
}

/** What undici rejects with on network failures; errors.ts describeFailure reads `cause.code`. */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}
