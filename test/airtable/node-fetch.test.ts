import dc from 'node:diagnostics_channel';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createAirtableClient } from '../../src/airtable/client.ts';
import { connectionError } from '../../src/airtable/errors.ts';
import type { FetchFn } from '../../src/airtable/fetch-helpers.ts';
import { createNodeFetch, type NodeFetch, type NodeFetchOptions } from '../../src/airtable/node-fetch.ts';
import { createRateBudget } from '../../src/airtable/rate-budget.ts';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { createEmulator, DEMO_BASE_ID, DEMO_TABLES, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { startEmulatorServer } from '../../emulator/server.ts';
import { AirmirrorError } from '../../src/errors.ts';

/**
 * createNodeFetch against real local servers (http.createServer / https.createServer on port 0):
 * everything it must do like fetch for our Airtable client, and the client itself end to end
 * against the emulator served over HTTP.
 */

// A throwaway self-signed certificate for 127.0.0.1/localhost (EC P-256, valid until 2126).
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBpDCCAUugAwIBAgIUeaxXVosnJkLRliPkxKlrJ9F1KRowCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOYWlybWlycm9yLXRlc3QwIBcNMjYxMTIxMjMzNTU1WhgPMjEy
NjEwMjgyMzM1NTVaMBkxFzAVBgNVBAMMDmFpcm1pcnJvci10ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEUvfq0128xUNLzgkaU7JCfItPuT1HReHV4vccH6Ar
g2SnV3kyD5CIvcG5pNLiUuysiYeguLy5JFhM6ZSdBC4AwqNvMG0wHQYDVR0OBBYE
FMzYdzdp9AWNefMZlA6Z+Gmej2kUMB8GA1UdIwQYMBaAFMzYdzdp9AWNefMZlA6Z
+Gmej2kUMA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYcEfwAAAYIJbG9jYWxo
b3N0MAoGCCqGSM49BAMCA0cAMEQCIHThYia0ZaLBW16ZoikrJsyIUEOA3oPStY0O
hC1UrYz7AiARV+3VZ9MvxAkWSxuUGeoRE1yY8WMFVYGxl+Mp03ahVg==
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgH7aazKdq+UppDxIg
GkGgi41OjlJf6fp5VBY2JAWJyyOhRANCAARS9+rTXbzFQ0vOCRpTskJ8i0+5PUdF
4dXi9xwfoCuDZKdXeTIPkIi9wbmk0uJS7KyJh6C4vLkkWEzplJ0ELgDC
-----END PRIVATE KEY-----
`;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface TestServer {
  url: string;
  port: number;
  /** Server-side sockets, one per TCP connection accepted. */
  connections: Socket[];
}

async function serve(handler: http.RequestListener, server: http.Server = http.createServer()) {
  server.on('request', handler);
  const connections: Socket[] = [];
  server.on('connection', (socket: Socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const port = (server.address() as AddressInfo).port;
  const scheme = server instanceof https.Server ? 'https' : 'http';
  return { url: `${scheme}://127.0.0.1:${port}`, port, connections } satisfies TestServer;
}

function nodeFetch(opts?: NodeFetchOptions): NodeFetch {
  const fetch = createNodeFetch(opts);
  cleanups.push(() => fetch.close());
  return fetch;
}

interface Echo {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bytes: number[];
  text: string;
}

/** Answers with what it received. */
const echo: http.RequestListener = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const seen: Echo = {
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      bytes: [...body],
      text: body.toString(),
    };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(seen));
  });
};

const closed = (socket: Socket) =>
  socket.destroyed
    ? Promise.resolve()
    : new Promise<void>((resolve) => socket.once('close', () => resolve()));

/** Runs `onData` when the client (in this process) receives the first body chunk from `port`. */
function onClientBodyChunk(port: number, onData: () => void): void {
  const channel = dc.channel('http.client.response.finish');
  const listener = (message: unknown) => {
    const { request, response } = message as { request: http.ClientRequest; response: http.IncomingMessage };
    if (request.socket?.remotePort !== port) return;
    channel.unsubscribe(listener);
    response.once('data', onData);
  };
  channel.subscribe(listener);
  cleanups.push(() => channel.unsubscribe(listener));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.unreachable('expected a rejection'),
    (err: unknown) => err,
  );
}

async function expectFetchFailed(p: Promise<unknown>, causeCode?: string): Promise<TypeError> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(TypeError);
  expect((err as Error).message).toBe('fetch failed');
  if (causeCode) expect(((err as Error).cause as { code?: string }).code).toBe(causeCode);
  return err as TypeError;
}

describe('schemes', () => {
  it('speaks http: and https: (verifying certificates), each over its own keep-alive agent', async () => {
    const plain = await serve(echo);
    const secure = await serve(echo, https.createServer({ cert: TEST_CERT, key: TEST_KEY }));
    const fetch = nodeFetch({ ca: TEST_CERT });

    for (const server of [plain, secure, plain, secure]) {
      const res = await fetch(`${server.url}/x`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as Echo).url).toBe('/x');
    }
    expect(plain.connections).toHaveLength(1);
    expect(secure.connections).toHaveLength(1);

    // Without the CA, the self-signed certificate is refused: verification is on.
    const err = await expectFetchFailed(nodeFetch()(`${secure.url}/x`));
    expect((err.cause as { code?: string }).code).toMatch(/SELF_SIGNED/);
  });

  it('rejects any other scheme with a TypeError, sending nothing', async () => {
    const server = await serve(echo);
    const fetch = nodeFetch();
    for (const url of [`ftp://127.0.0.1:${server.port}/`, 'file:///etc/hostname', 'data:text/plain,hi']) {
      await expect(fetch(url)).rejects.toBeInstanceOf(TypeError);
    }
    await expect(fetch('/relative')).rejects.toBeInstanceOf(TypeError);
    await expect(fetch(`http://user:pw@127.0.0.1:${server.port}/`)).rejects.toBeInstanceOf(TypeError);
    expect(server.connections).toHaveLength(0);
  });
});

describe('requests', () => {
  it('takes a string, a URL or a Request (method, headers, body, signal), init overriding', async () => {
    const server = await serve(echo);
    const fetch = nodeFetch();
    const seen = async (p: Promise<Response>) => (await (await p).json()) as Echo;

    expect((await seen(fetch(`${server.url}/s?q=1`))).url).toBe('/s?q=1');
    expect((await seen(fetch(new URL(`${server.url}/u#frag`)))).url).toBe('/u');

    const request = () =>
      new Request(`${server.url}/r`, {
        method: 'PUT',
        headers: { 'x-from': 'request' },
        body: 'from request',
      });
    const fromRequest = await seen(fetch(request()));
    expect(fromRequest).toMatchObject({ method: 'PUT', url: '/r', text: 'from request' });
    expect(fromRequest.headers['x-from']).toBe('request');

    const overridden = await seen(
      fetch(request(), { method: 'POST', headers: { 'x-from': 'init' }, body: 'from init' }),
    );
    expect(overridden).toMatchObject({ method: 'POST', text: 'from init' });
    expect(overridden.headers['x-from']).toBe('init');

    const reason = new Error('request signal');
    const aborted = new Request(`${server.url}/a`, { signal: AbortSignal.abort(reason) });
    await expect(fetch(aborted)).rejects.toBe(reason);
    // init.signal: null drops the Request's signal, as in fetch.
    expect((await seen(fetch(aborted, { signal: null }))).url).toBe('/a');
  });

  it('sends headers given as Headers, pairs or a record; asks for compression unless told otherwise', async () => {
    const server = await serve(echo);
    const fetch = nodeFetch();
    const headersOf = async (headers: HeadersInit) =>
      ((await (await fetch(server.url, { headers })).json()) as Echo).headers;

    const fromHeaders = await headersOf(new Headers({ Authorization: 'Bearer x', 'X-One': '1' }));
    expect(fromHeaders).toMatchObject({ authorization: 'Bearer x', 'x-one': '1' });
    expect(fromHeaders['accept-encoding']).toBe('gzip, deflate, br');

    const fromPairs = await headersOf([
      ['X-Many', 'a'],
      ['x-many', 'b'],
      ['x-padded', '  v  '],
    ]);
    expect(fromPairs).toMatchObject({ 'x-many': 'a, b', 'x-padded': 'v' });

    const fromRecord = await headersOf({ 'Accept-Encoding': 'identity', 'X-Rec': 'r' });
    expect(fromRecord).toMatchObject({ 'accept-encoding': 'identity', 'x-rec': 'r' });
  });

  it('sends every body kind with its length (and fetch’s default content-type)', async () => {
    const server = await serve(echo);
    const fetch = nodeFetch();
    const post = async (body: BodyInit | null, headers?: Record<string, string>) =>
      (await (await fetch(server.url, { method: 'post', body, headers })).json()) as Echo;

    const text = 'héllo ✓';
    const s = await post(text);
    expect(s).toMatchObject({ method: 'POST', text });
    expect(s.headers['content-length']).toBe(String(Buffer.byteLength(text)));
    expect(s.headers['content-type']).toBe('text/plain;charset=UTF-8');
    expect((await post(text, { 'content-type': 'application/json' })).headers['content-type']).toBe(
      'application/json',
    );

    // A view into a larger buffer sends only its own bytes.
    const view = new Uint8Array([9, 9, 1, 2, 255, 9]).subarray(2, 5);
    const v = await post(view);
    expect(v.bytes).toEqual([1, 2, 255]);
    expect(v.headers['content-length']).toBe('3');
    expect(v.headers['content-type']).toBeUndefined();
    expect((await post(new Uint8Array([7, 8]).buffer)).bytes).toEqual([7, 8]);
    expect((await post(Buffer.from([0, 128]))).bytes).toEqual([0, 128]);

    const form = await post(new URLSearchParams({ a: '1', b: 'x y' }));
    expect(form.text).toBe('a=1&b=x+y');
    expect(form.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=UTF-8');

    const blob = await post(new Blob(['blob!'], { type: 'text/x-blob' }));
    expect(blob).toMatchObject({ text: 'blob!' });
    expect(blob.headers['content-type']).toBe('text/x-blob');

    const empty = await post(null);
    expect(empty.headers['content-length']).toBe('0');
    expect(empty.bytes).toEqual([]);

    await expect(fetch(server.url, { body: 'x' })).rejects.toBeInstanceOf(TypeError);
    await expect(fetch(server.url, { method: 'CONNECT' })).rejects.toBeInstanceOf(TypeError);
  });
});

describe('responses', () => {
  it('carries status, statusText and headers (repeats joined, set-cookie kept apart)', async () => {
    const server = await serve((_req, res) => {
      res.setHeader('x-multi', ['a', 'b']);
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('content-type', 'application/json');
      res.writeHead(201, 'Made It');
      res.end('{"ok":true}');
    });
    const res = await nodeFetch()(server.url);
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.statusText).toBe('Made It');
    expect(res.headers.get('x-multi')).toBe('a, b');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.redirected).toBe(false);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('has a body that reads as text, JSON or bytes', async () => {
    const server = await serve((_req, res) => res.end('[1,"two"]'));
    const fetch = nodeFetch();
    expect(await (await fetch(server.url)).text()).toBe('[1,"two"]');
    expect(await (await fetch(server.url)).json()).toEqual([1, 'two']);
    const bytes = new Uint8Array(await (await fetch(server.url)).arrayBuffer());
    expect(Buffer.from(bytes).toString()).toBe('[1,"two"]');
  });

  it('gives a null body to 204, 205, 304 and HEAD answers, and keeps using the socket', async () => {
    const server = await serve((req, res) => {
      const status = Number(req.url!.slice(1)) || 200;
      res.writeHead(status, { 'content-length': status === 200 ? '5' : '0' });
      res.end(status === 200 && req.method !== 'HEAD' ? 'hello' : undefined);
    });
    const fetch = nodeFetch();
    for (const [path, method] of [
      ['/204', 'GET'],
      ['/205', 'GET'],
      ['/304', 'GET'],
      ['/200', 'HEAD'],
    ]) {
      const res = await fetch(`${server.url}${path}`, { method });
      expect(res.body).toBeNull();
      expect(await res.text()).toBe('');
    }
    expect(await (await fetch(`${server.url}/200`)).text()).toBe('hello');
    expect(server.connections).toHaveLength(1);
  });

  it('does not follow redirects: the 3xx comes back as sent', async () => {
    const hits: string[] = [];
    const server = await serve((req, res) => {
      hits.push(req.url!);
      if (req.url === '/from') res.writeHead(302, { location: '/to' }).end('moved');
      else res.end('target');
    });
    const res = await nodeFetch()(`${server.url}/from`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/to');
    expect(await res.text()).toBe('moved');
    expect(hits).toEqual(['/from']);
  });

  it('decodes UTF-8 exactly when a character is split across chunks', async () => {
    const text = 'a😀é✓z';
    const bytes = Buffer.from(text);
    // Chunked encoding: each write is its own chunk, and arrives as its own 'data' at the client.
    const server = await serve((_req, res) => {
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      for (const [from, to] of [
        [0, 3], // 'a' + half the emoji
        [3, 6], // the rest of the emoji + half of 'é'
        [6, bytes.length],
      ]) {
        res.write(bytes.subarray(from, to));
      }
      res.end();
    });
    const res = await nodeFetch()(server.url);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(await res.text()).toBe(text);
  });

  describe('compressed bodies', () => {
    const payload = JSON.stringify({ records: Array.from({ length: 300 }, (_, i) => ({ id: i, n: 'é😀' })) });
    const encoders: Record<string, (b: Buffer) => Buffer> = {
      gzip: zlib.gzipSync,
      'x-gzip': zlib.gzipSync,
      deflate: zlib.deflateSync,
      br: zlib.brotliCompressSync,
      'gzip, br': (b) => zlib.brotliCompressSync(zlib.gzipSync(b)),
    };

    it.each(Object.keys(encoders))('decodes %s', async (encoding) => {
      let asked: string | undefined;
      const server = await serve((req, res) => {
        asked = req.headers['accept-encoding'];
        const body = encoders[encoding](Buffer.from(payload));
        res.writeHead(200, { 'content-encoding': encoding, 'content-length': body.length });
        res.end(body);
      });
      const res = await nodeFetch()(server.url);
      expect(asked).toBe('gzip, deflate, br');
      expect(res.headers.get('content-encoding')).toBe(encoding);
      expect(await res.text()).toBe(payload);
    });

    it('decodes raw deflate too, and passes an unknown coding through as sent', async () => {
      const server = await serve((req, res) => {
        const raw = req.url === '/raw';
        res.writeHead(200, { 'content-encoding': raw ? 'deflate' : 'zstd-ish' });
        res.end(raw ? zlib.deflateRawSync(Buffer.from(payload)) : 'not really compressed');
      });
      const fetch = nodeFetch();
      expect(await (await fetch(`${server.url}/raw`)).text()).toBe(payload);
      expect(await (await fetch(`${server.url}/odd`)).text()).toBe('not really compressed');
    });

    it('rejects a corrupt compressed body with fetch failed', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-encoding': 'gzip' });
        res.end('definitely not gzip');
      });
      await expectFetchFailed(nodeFetch()(server.url), 'Z_DATA_ERROR');
    });
  });
});

describe('aborting', () => {
  it('rejects at once with the reason of an already-aborted signal, sending nothing', async () => {
    const server = await serve(echo);
    const reason = new Error('gave up');
    await expect(nodeFetch()(server.url, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(server.connections).toHaveLength(0);
  });

  it('while waiting for headers: rejects with the reason and drops the connection', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    const server = await serve(() => arrived()); // never answers
    const controller = new AbortController();
    const pending = nodeFetch()(server.url, { signal: controller.signal });
    await requestArrived;
    const reason = new Error('stop waiting');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await closed(server.connections[0]);
  });

  it('while reading the body: rejects with the reason, drops the connection, then uses a new one', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/next') return res.end('fine');
      res.writeHead(200, { 'content-length': '1000' });
      res.write('the first bytes of a body that never ends');
    });
    const fetch = nodeFetch();
    const controller = new AbortController();
    const reason = new DOMException('enough', 'AbortError');
    onClientBodyChunk(server.port, () => controller.abort(reason));
    await expect(fetch(`${server.url}/stall`, { signal: controller.signal })).rejects.toBe(reason);
    await closed(server.connections[0]);

    expect(await (await fetch(`${server.url}/next`)).text()).toBe('fine');
    expect(server.connections).toHaveLength(2);
  });
});

describe('network failures', () => {
  it('rejects a refused connection with TypeError("fetch failed") whose cause names ECONNREFUSED', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));

    const err = await expectFetchFailed(nodeFetch()(`http://127.0.0.1:${port}/`), 'ECONNREFUSED');
    // What the client's error mapper makes of it.
    expect(connectionError(err).details?.reason).toBe('TypeError: fetch failed (ECONNREFUSED)');
  });

  it('rejects a connection closed before any answer (socket hang up)', async () => {
    const server = await serve((req) => req.socket.destroy());
    await expectFetchFailed(nodeFetch()(server.url), 'ECONNRESET');
  });

  it('rejects a connection reset in the middle of the body', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('part of the body');
    });
    onClientBodyChunk(server.port, () => server.connections[0].destroy());
    await expectFetchFailed(nodeFetch()(server.url), 'ECONNRESET');
  });
});

describe('connections', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const sockets: Socket[] = [];
    const server = await serve((req, res) => {
      sockets.push(req.socket);
      res.end('ok');
    });
    const fetch = nodeFetch();
    for (let i = 0; i < 3; i++) expect(await (await fetch(server.url)).text()).toBe('ok');
    expect(server.connections).toHaveLength(1);
    expect(new Set(sockets).size).toBe(1);
  });

  it('opens at most maxSockets connections per origin, queueing the rest', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let waiting = 0;
    const server = await serve((_req, res) => {
      // Hold the first answers until three requests are in, so that parallel ones need sockets.
      if (++waiting >= 3) release();
      void released.then(() => res.end('ok'));
    });
    const one = nodeFetch({ maxSockets: 1 });
    const many = nodeFetch();
    const [a, b] = [one, many].map((f) =>
      Promise.all([1, 2, 3].map(() => f(server.url).then((r) => r.text()))),
    );
    expect(await b).toEqual(['ok', 'ok', 'ok']);
    expect(await a).toEqual(['ok', 'ok', 'ok']);
    // `many` needed three sockets to get three requests to the server; `one` used a single one.
    expect(server.connections).toHaveLength(4);
  });

  it('closes idle sockets after idleTimeoutMs but not busy ones', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow'), 150);
      else res.end('quick');
    });
    const fetch = nodeFetch({ idleTimeoutMs: 50 });
    expect(await (await fetch(`${server.url}/slow`)).text()).toBe('slow');
    await closed(server.connections[0]);
    expect(server.connections).toHaveLength(1);
  });

  it('close() drops idle and in-flight connections; later calls reject', async () => {
    const idleServer = await serve((_req, res) => res.end('done'));
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    const hangingServer = await serve(() => arrived()); // never answers
    const fetch = nodeFetch();
    expect(await (await fetch(idleServer.url)).text()).toBe('done');
    const inFlight = fetch(hangingServer.url);
    inFlight.catch(() => undefined); // awaited below; no unhandled rejection if an assertion fails first
    await requestArrived;

    fetch.close();
    await expectFetchFailed(inFlight);
    await closed(idleServer.connections[0]);
    await closed(hangingServer.connections[0]);
    await expectFetchFailed(fetch(idleServer.url));
    expect(idleServer.connections).toHaveLength(1);
  });
});

describe('with the Airtable client against the emulator over HTTP', () => {
  async function clients() {
    const emulator = await startEmulatorServer(createEmulator({ records: 250, rateLimit: false }), {
      port: 0,
    });
    cleanups.push(() => emulator.close());
    const make = (fetch: FetchFn, apiUrl = emulator.url) =>
      createAirtableClient({
        apiUrl,
        token: EMULATOR_TOKEN,
        fetch,
        budget: createRateBudget({ perSecond: 1000 }),
        maxAttempts: 1,
      });
    return {
      viaNode: make(nodeFetch()),
      viaGlobal: make((input, init) => globalThis.fetch(input, init)),
      make,
    };
  }

  async function listAll(client: ReturnType<typeof createAirtableClient>) {
    const pages: AirtableRecord[][] = [];
    for await (const page of client.listAllRecords(DEMO_BASE_ID, DEMO_TABLES.orders, { pageSize: 100 })) {
      pages.push(page.records);
    }
    return pages;
  }

  it('lists every record exactly as through the built-in fetch', async () => {
    const { viaNode, viaGlobal } = await clients();
    const [node, global] = [await listAll(viaNode), await listAll(viaGlobal)];
    expect(node.map((p) => p.length)).toEqual([100, 100, 50]);
    expect(node).toEqual(global);
  });

  it('surfaces a 404 as the same AirmirrorError, and a refused connection as CONNECTION_ERROR', async () => {
    const { viaNode, viaGlobal, make } = await clients();
    const errors = await Promise.all(
      [viaNode, viaGlobal].map((c) =>
        rejection(c.getRecord(DEMO_BASE_ID, DEMO_TABLES.orders, 'recNoSuchRecord01')),
      ),
    );
    for (const err of errors) expect(err).toBeInstanceOf(AirmirrorError);
    const [node, global] = errors as AirmirrorError[];
    expect(node.status).toBe(404);
    expect({ code: node.code, status: node.status, message: node.message }).toEqual({
      code: global.code,
      status: global.status,
      message: global.message,
    });

    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const refused = await rejection(make(nodeFetch(), `http://127.0.0.1:${port}`).whoami());
    expect(refused).toMatchObject({ code: 'CONNECTION_ERROR' });
    expect((refused as AirmirrorError).details?.reason).toContain('(ECONNREFUSED)');
  });
});
