import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { serveApp, type ServedApp } from './server-harness.ts';

/**
 * The management surface refuses what a web page could send it (issue 14): a cross-site
 * `text/plain` POST (no CORS preflight) and DNS rebinding (an attacker's name resolving to us)
 * — with and without an admin token. The proxy and the webhook receiver keep answering
 * whatever Host they are called by. Real HTTP on loopback, the app as `airmirror start` builds it.
 */
const ADMIN = '9f2c4e6a8b0d1f3e5a7c9b2d4f6e8a0c';
const { db } = await createTestDatabase();
let open: ServedApp;
let locked: ServedApp;

beforeAll(async () => {
  open = await serveApp(db, { guard: { host: '127.0.0.1', publicUrl: 'https://mirror.example.com:8443/' } });
  locked = await serveApp(db, { adminToken: ADMIN });
});

afterAll(async () => {
  await open?.close();
  await locked?.close();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with exactly these headers (fetch would not let a test set Host). */
function send(
  app: ServedApp,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: app.port,
        method,
        path,
        headers: { host: `127.0.0.1:${app.port}`, ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const subscriptions = async () =>
  JSON.parse((await send(open, 'GET', '/api/subscriptions')).body).count as number;
const json = { 'content-type': 'application/json' };
const subscription = JSON.stringify({ url: 'https://receiver.example/hook', secret: 'a'.repeat(32) });

describe('JSON bodies only', () => {
  it('refuses the cross-site text/plain POST that created a subscription (415), with no token set', async () => {
    const before = await subscriptions();
    const r = await send(open, 'POST', '/api/subscriptions', { 'content-type': 'text/plain' }, subscription);
    expect(r.status).toBe(415);
    expect(JSON.parse(r.body)).toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      detail: expect.stringMatching(/application\/json/),
    });
    expect(await subscriptions()).toBe(before);
  });

  it.each([
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'text/plain;charset=UTF-8',
  ])('refuses %s', async (type) => {
    expect(
      (await send(open, 'POST', '/api/subscriptions', { 'content-type': type }, subscription)).status,
    ).toBe(415);
  });

  it('refuses a body with no Content-Type, and takes JSON with a charset', async () => {
    expect((await send(open, 'POST', '/api/subscriptions', {}, subscription)).status).toBe(415);
    const r = await send(
      open,
      'POST',
      '/api/subscriptions',
      { 'content-type': 'application/json; charset=utf-8' },
      subscription,
    );
    expect(r.status).toBe(201);
    expect((await send(open, 'DELETE', `/api/subscriptions/${JSON.parse(r.body).id}`)).status).toBe(204);
  });
});

describe('Host (DNS rebinding)', () => {
  it.each([
    ['/api/status', 'GET'],
    ['/api/subscriptions', 'POST'],
    ['/metrics', 'GET'],
    ['/api', 'GET'],
  ])('refuses %s (%s) under a name this server is not known by (421)', async (path, method) => {
    for (const host of [
      'rebind.evil.example',
      'rebind.evil.example:8787',
      '127.evil.example',
      '127.0.0.1.nip.io',
      'localhost.evil.example',
    ]) {
      const r = await send(
        open,
        method,
        path,
        { host, ...json },
        method === 'POST' ? subscription : undefined,
      );
      expect(r.status, host).toBe(421);
      expect(JSON.parse(r.body).code).toBe('HOST_NOT_ALLOWED');
    }
  });

  it('answers its addresses, localhost and the host of AIRMIRROR_PUBLIC_URL, whatever the port', async () => {
    for (const host of [
      `127.0.0.1:${open.port}`,
      'localhost:9999',
      'LOCALHOST',
      '[::1]:8787',
      '10.1.2.3',
      'mirror.example.com',
      'mirror.example.com:443',
    ]) {
      expect((await send(open, 'GET', '/api/status', { host })).status, host).toBe(200);
    }
  });

  it('is checked before the admin token: the right token under a rebound name is still refused', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    expect((await send(locked, 'GET', '/api/status', auth)).status).toBe(200);
    expect((await send(locked, 'GET', '/api/status', { ...auth, host: 'rebind.evil.example' })).status).toBe(
      421,
    );
    expect((await send(locked, 'GET', '/api/status', {})).status).toBe(401);
  });
});

describe('Origin (cross-site)', () => {
  it('refuses a page of another site, another port of this machine, or a sandboxed frame', async () => {
    const table = JSON.parse((await send(open, 'GET', '/api/status')).body).tables;
    expect(Array.isArray(table)).toBe(true);
    for (const origin of ['https://evil.example', `http://127.0.0.1:${open.port + 1}`, 'null', 'file://']) {
      // A bodyless POST (reload, cancel, delete-data): what `fetch(…, { mode: 'no-cors' })` sends.
      const r = await send(open, 'POST', '/api/schemas/tbl00000000000000/reload', { origin });
      expect(r.status, origin).toBe(403);
      expect(JSON.parse(r.body).code).toBe('ORIGIN_NOT_ALLOWED');
      expect((await send(open, 'GET', '/api/status', { origin })).status, origin).toBe(403);
    }
  });

  it('takes its own origin and that of AIRMIRROR_PUBLIC_URL', async () => {
    expect((await send(open, 'GET', '/api/status', { origin: `http://127.0.0.1:${open.port}` })).status).toBe(
      200,
    );
    expect(
      (
        await send(open, 'GET', '/api/status', {
          origin: 'https://mirror.example.com:8443',
          host: 'internal:8787',
        })
      ).status,
    ).toBe(421);
    expect(
      (
        await send(open, 'GET', '/api/status', {
          origin: 'https://mirror.example.com:8443',
          host: '127.0.0.1:8787',
        })
      ).status,
    ).toBe(200);
  });
});

describe('what the guard leaves alone', () => {
  it('the proxy answers under any Host: apps reach it by names of their own and carry their own token', async () => {
    const r = await send(locked, 'GET', `/api.airtable.com/v0/${DEMO_BASE_ID}/Customers?maxRecords=1`, {
      host: 'airmirror.internal.svc:8787',
      origin: 'https://some.app.example',
      authorization: `Bearer ${EMULATOR_TOKEN}`,
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).records).toHaveLength(1);
  });

  it('the webhook receiver answers Airtable under any Host: the MAC is its check', async () => {
    const r = await send(
      open,
      'POST',
      '/hooks/airtable/src_unknown',
      { host: 'hooks.example', ...json },
      '{}',
    );
    expect(r.status).toBe(401);
  });

  it('/healthz answers any Host (probes use the pod address or a name of their own)', async () => {
    expect((await send(open, 'GET', '/healthz', { host: 'probe.internal' })).status).toBe(200);
  });
});

describe('/metrics', () => {
  it('takes the admin token when one is set', async () => {
    expect((await send(locked, 'GET', '/metrics')).status).toBe(401);
    const r = await send(locked, 'GET', '/metrics', { authorization: `Bearer ${ADMIN}` });
    expect(r.status).toBe(200);
    expect(r.body).toContain('# HELP');
  });

  it('stays open with AIRMIRROR_METRICS_PUBLIC, and without a token', async () => {
    const pub = await serveApp(db, { adminToken: ADMIN, metricsPublic: true });
    try {
      expect((await send(pub, 'GET', '/metrics')).status).toBe(200);
      expect((await send(pub, 'GET', '/metrics', { host: 'rebind.evil.example' })).status).toBe(421);
    } finally {
      await pub.close();
    }
    expect((await send(open, 'GET', '/metrics')).status).toBe(200);
  });
});

describe('methods', () => {
  it.each(['/api/status', `/api.airtable.com/v0/${DEMO_BASE_ID}/Customers`, '/healthz', '/'])(
    'TRACE %s is 405',
    async (path) => {
      const r = await send(open, 'TRACE', path, { authorization: `Bearer ${EMULATOR_TOKEN}` });
      expect(r.status).toBe(405);
      expect(r.headers.allow).toMatch(/GET/);
      expect(r.body).not.toContain(EMULATOR_TOKEN);
    },
  );

  it('CONNECT is 405 and the connection closes', async () => {
    const socket = connect(open.port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('CONNECT api.airtable.com:443 HTTP/1.1\r\nHost: api.airtable.com:443\r\n\r\n');
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
  });
});
