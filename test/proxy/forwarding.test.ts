import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxy } from '../../proxy/app.ts';
import { freePort } from '../../src/db/embedded.ts';
import { rawRequest, recordingFetch, serveHttp } from './support.ts';

const UPSTREAM = 'http://upstream.test';
const BASE = 'appAAAAAAAAAAAAAA';
const limits = { timeoutMs: 2_000, maxBodyBytes: 1_000 };

describe('forwarding', () => {
  const rec = recordingFetch(() =>
    Response.json(
      { records: [] },
      {
        status: 200,
        headers: {
          'x-airtable-thing': 'kept',
          connection: 'close, x-conn-only',
          'x-conn-only': 'dropped',
          'keep-alive': 'timeout=5',
          'proxy-authenticate': 'Basic',
        },
      },
    ),
  );
  const proxy = createProxy({ upstreamUrl: UPSTREAM, fetch: rec.fetch, ...limits });
  let server: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    server = await serveHttp(proxy.app.fetch);
  });
  afterAll(() => server.close());

  it('sends method, path and the raw query unchanged, trailing / and ? included', async () => {
    rec.seen.length = 0;
    const paths = [
      `/v0/${BASE}/My%20Table/?`,
      `/v0/${BASE}/tblBBBBBBBBBBBBBB?fields%5B%5D=Name&sort%5B0%5D%5Bfield%5D=Name&filterByFormula=%7BA%7D%3D'x%2By'`,
      `/v0/meta/bases/${BASE}/tables`,
    ];
    for (const p of paths) {
      const res = await rawRequest(server.url, { path: `/api.airtable.com${p}` });
      expect(res.status).toBe(200);
    }
    expect(rec.seen.map((r) => r.url)).toEqual(paths.map((p) => UPSTREAM + p));
  });

  it("forwards the app's Authorization and content headers, drops hop-by-hop ones", async () => {
    rec.seen.length = 0;
    const res = await rawRequest(server.url, {
      path: `/api.airtable.com/v0/${BASE}/T/listRecords`,
      method: 'POST',
      headers: {
        authorization: 'Bearer patAPP.secret',
        'content-type': 'application/json',
        'x-api-version': '0.1.0',
        connection: 'keep-alive, x-hop',
        'x-hop': 'dropped',
        'proxy-authorization': 'Basic Zm9v',
        te: 'trailers',
      },
      body: JSON.stringify({ pageSize: 2 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-airtable-thing']).toBe('kept');
    const sent = rec.seen[0];
    expect(sent.method).toBe('POST');
    expect(sent.headers.get('authorization')).toBe('Bearer patAPP.secret');
    expect(sent.headers.get('content-type')).toBe('application/json');
    expect(sent.headers.get('x-api-version')).toBe('0.1.0');
    expect(sent.body).toBe('{"pageSize":2}');
    for (const h of ['x-hop', 'proxy-authorization', 'te', 'keep-alive', 'host']) {
      expect(sent.headers.has(h), h).toBe(false);
    }
  });

  it("returns Airtable's status, body and headers, minus hop-by-hop ones", async () => {
    const res = await fetch(`${server.url}/api.airtable.com/v0/${BASE}/T`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-airtable-thing')).toBe('kept');
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.headers.has('x-conn-only')).toBe(false);
    expect(res.headers.has('proxy-authenticate')).toBe(false);
    expect(await res.json()).toEqual({ records: [] });
  });

  it('refuses any host but api.airtable.com with 400 and never fetches it', async () => {
    rec.seen.length = 0;
    const tricks = [
      '/evil.com/v0/x',
      '/api.airtable.com.evil.com/v0/x',
      '/api.airtable.com@evil.com/v0/x',
      '/api.airtable.com%40evil.com/v0/x',
      '/api.airtable.com%2F@evil.com/v0/x',
      '/%61pi.airtable.com/v0/x',
      '/api.airtable.com:443/v0/x',
      '/api.airtable.com%2Eevil.com/v0/x',
      '/api.airtable.com/v0/../../evil.com/v0/x',
      '/api.airtable.com/v0/%2e%2e/%2e%2e/evil.com/v0/x',
    ];
    for (const t of tricks) {
      const res = await rawRequest(server.url, { path: t });
      const body = JSON.parse(res.body) as { error: { type: string; message: string } };
      expect(res.status, t).toBe(400);
      expect(body.error.type).toBe('INVALID_REQUEST_UNKNOWN');
    }
    expect(rec.seen).toEqual([]);
  });

  it('answers bad paths with 404 {"error":"NOT_FOUND"}', async () => {
    rec.seen.length = 0;
    for (const p of ['/', '/api.airtable.com', '/api.airtable.com/v1/x', '/api.airtable.com/x/v0']) {
      const res = await fetch(server.url + p);
      expect(res.status, p).toBe(404);
      expect(await res.json()).toEqual({ error: 'NOT_FOUND' });
    }
    expect(rec.seen).toEqual([]);
  });

  it('answers malformed JSON on a write with 400 and forwards nothing', async () => {
    rec.seen.length = 0;
    const res = await fetch(`${server.url}/api.airtable.com/v0/${BASE}/T`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"records": [',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('INVALID_REQUEST_BODY');
    expect(rec.seen).toEqual([]);
  });

  it('answers bodies over the limit with 413, declared or streamed', async () => {
    rec.seen.length = 0;
    const big = JSON.stringify({ fields: { Name: 'x'.repeat(2_000) } });
    const declared = await fetch(`${server.url}/api.airtable.com/v0/${BASE}/T`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { type: string } }).error.type).toBe('REQUEST_TOO_LARGE');
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode('x'.repeat(400)));
        c.close();
      },
    });
    const chunked = await fetch(`${server.url}/api.airtable.com/v0/${BASE}/T`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(rec.seen).toEqual([]);
  });

  it('never crashes on odd input: bad encodings, odd methods, empty bodies', async () => {
    const odd: Array<[string, RequestInit]> = [
      [`/api.airtable.com/v0/${BASE}/%E0%A4%A/rec1`, { method: 'DELETE' }],
      [`/api.airtable.com/v0/${BASE}/T`, { method: 'POST', body: '\u0000\uffff' }],
      [`/api.airtable.com/v0/${BASE}/T`, { method: 'POST', body: '' }],
      [`/api.airtable.com/v0/${BASE}/T`, { method: 'OPTIONS' }],
    ];
    for (const [p, init] of odd) {
      const res = await fetch(server.url + p, init);
      expect(res.status, p).toBeLessThan(500);
    }
    const still = await fetch(`${server.url}/api.airtable.com/v0/${BASE}/T`);
    expect(still.status).toBe(200);
  });
});

describe('upstream failures', () => {
  it('answers 502 with an Airtable-shaped body when Airtable is unreachable', async () => {
    const port = await freePort(); // nothing listens there
    const proxy = createProxy({ upstreamUrl: `http://127.0.0.1:${port}`, fetch, ...limits });
    const res = await proxy.app.request(`/api.airtable.com/v0/${BASE}/T`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('PROXY_UPSTREAM_UNREACHABLE');
    expect(body.error.message).toMatch(/could not reach Airtable/);
  });

  it('answers 504 when Airtable does not answer in time', async () => {
    const hanging: typeof fetch = (_input, init) =>
      new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    const proxy = createProxy({ upstreamUrl: UPSTREAM, fetch: hanging, timeoutMs: 50, maxBodyBytes: 100 });
    const res = await proxy.app.request(`/api.airtable.com/v0/${BASE}/T`, { method: 'GET' });
    expect(res.status).toBe(504);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('PROXY_UPSTREAM_TIMEOUT');
    expect(body.error.message).toMatch(/could not reach Airtable/);
  });
});

describe('compressed answers', () => {
  it('a gzipped answer reaches the app decoded, without the encoding and length that no longer hold', async () => {
    // The emulator does not compress; a minimal gzip-answering server stands in for Airtable here.
    const json = JSON.stringify({
      records: [{ id: 'rec1', createdTime: '2022-09-12T21:03:48.000Z', fields: {} }],
    });
    const gz = gzipSync(json);
    const upstream = createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': gz.length,
      });
      res.end(gz);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    try {
      const proxy = createProxy({ upstreamUrl: `http://127.0.0.1:${port}`, fetch, ...limits });
      const server = await serveHttp(proxy.app.fetch);
      try {
        const res = await rawRequest(server.url, { path: `/api.airtable.com/v0/${BASE}/T` });
        expect(res.status).toBe(200);
        expect(res.body).toBe(json);
        expect(res.headers['content-encoding']).toBeUndefined();
        expect(res.headers['content-length']).not.toBe(String(gz.length));
      } finally {
        await server.close();
      }
    } finally {
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });
});
