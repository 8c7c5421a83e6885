/**
 * Day two of a subscription (issue 16), against real Postgres and real HTTP receivers that
 * verify signatures the way the README tells receivers to: pause and resume (events wait, in
 * order), a new URL (tried at once), a rotated secret whose overlap sends both signatures (a
 * receiver on the old secret and one on the new one both accept), URLs with credentials refused
 * (and never shown), and the delivery log with its bound.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createDeliverer, type Deliverer, type DelivererOptions } from '../../src/events/deliverer.ts';
import { subscriptionRoutes } from '../../src/events/routes.ts';
import { DELIVERY_LOG_SIZE } from '../../src/events/store.ts';
import { createLogger } from '../../src/log.ts';
import { createTestDatabase } from '../support/db.ts';
import { createFakeClock } from '../support/fake-clock.ts';
import { waitUntil } from '../support/wait.ts';
import { ensureOutbox, testSecrets, writeOutbox } from './support.ts';

const { db } = await createTestDatabase();
await ensureOutbox(db);
const log = createLogger({ level: 'silent' });
const clock = createFakeClock(Date.UTC(2026, 5, 1, 12, 0, 0));
const now = () => new Date(clock.now());
const api = subscriptionRoutes({ db, secrets: testSecrets, fetch, now });
const OLD = 'whsec-old-0123456789abcdef';
const NEW = 'whsec-new-fedcba9876543210';
const HOUR = 3_600_000;

/**
 * A receiver as the README describes one: it accepts an event when any `sha256=` entry of
 * X-Airmirror-Signature is the HMAC of the raw body with the secret it knows (401 otherwise).
 */
class VerifyingReceiver {
  knows: string[] = [];
  status = 200;
  readonly accepted: { id: number; signatures: string[]; raw: string }[] = [];
  readonly refused: { id: number; signatures: string[] }[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const id = (JSON.parse(raw.toString('utf8')) as { id: number }).id;
        const signatures = signaturesOf(req.headers);
        if (!this.verify(raw, signatures)) {
          this.refused.push({ id, signatures });
          res.statusCode = 401;
        } else if (this.status >= 300) {
          res.statusCode = this.status;
        } else {
          this.accepted.push({ id, signatures, raw: raw.toString('utf8') });
          res.statusCode = 200;
        }
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  private verify(raw: Buffer, signatures: string[]): boolean {
    return this.knows.some((secret) => {
      const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'));
      return signatures.some((s) => {
        const got = Buffer.from(s.replace(/^sha256=/, ''));
        return s.startsWith('sha256=') && got.length === expected.length && timingSafeEqual(got, expected);
      });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server?.close(() => resolve()));
  }
}

const signaturesOf = (h: IncomingHttpHeaders) => String(h['x-airmirror-signature'] ?? '').split(',');
const sign = (secret: string, raw: string) =>
  `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

let a: VerifyingReceiver;
let b: VerifyingReceiver;
let deliverers: Deliverer[] = [];

beforeAll(async () => {
  a = await new VerifyingReceiver().start();
  b = await new VerifyingReceiver().start();
});
afterAll(async () => {
  await a.stop();
  await b.stop();
});
beforeEach(async () => {
  for (const r of [a, b]) {
    r.accepted.length = 0;
    r.refused.length = 0;
    r.status = 200;
    r.knows = [OLD];
  }
  await db.query(sql('DELETE FROM airmirror.subscriptions'));
});
afterEach(async () => {
  await Promise.all(deliverers.map((d) => d.stop()));
  deliverers = [];
});

function deliverer(extra: Partial<DelivererOptions> = {}): Deliverer {
  const d = createDeliverer({
    db,
    fetch,
    secrets: testSecrets,
    log,
    listen: false,
    now,
    random: () => 0,
    retryBaseMs: 1000,
    ...extra,
  });
  deliverers.push(d);
  return d;
}

async function call(method: string, path: string, body?: unknown) {
  const res = await api.request(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, text, json: (text ? JSON.parse(text) : undefined) as any };
}

async function subscribe(body: Record<string, unknown> = {}): Promise<string> {
  const r = await call('POST', '/subscriptions', { url: a.url, secret: OLD, ...body });
  expect(r.status).toBe(201);
  return r.json.id;
}

const patch = (id: string, body: unknown) => call('PATCH', `/subscriptions/${id}`, body);
const deliveries = (id: string, q = '') => call('GET', `/subscriptions/${id}/deliveries${q}`);
const outboxCount = async () =>
  Number((await db.query<{ n: string }>(sql('SELECT count(*) AS n FROM airmirror.outbox'))).rows[0].n);

describe('rotating the secret', () => {
  it('signs with both secrets during the overlap: receivers on either secret accept; then only the new one', async () => {
    const id = await subscribe();
    const d = deliverer();
    const [e1] = await writeOutbox(db, [{ record: 'rec1' }]);
    await d.runOnce();
    expect(a.accepted.map((x) => x.id)).toEqual([e1]);
    expect(a.accepted[0].signatures).toHaveLength(1);

    const r = await patch(id, { secret: NEW, secret_overlap_seconds: 3600 });
    expect(r.status).toBe(200);
    expect(r.json.second_signature_until).toBe(new Date(clock.now() + HOUR).toISOString());
    expect(r.text).not.toContain(NEW);
    expect(r.text).not.toContain(OLD);

    // Receiver A has not switched yet; receiver B has (a second subscription of the same secret
    // pair shows the same headers to a receiver that knows only the new one).
    const other = await subscribe({ url: b.url });
    expect((await patch(other, { secret: NEW, secret_overlap_seconds: 3600 })).status).toBe(200);
    b.knows = [NEW];
    const [e2] = await writeOutbox(db, [{ record: 'rec2' }]);
    await d.runOnce();
    expect(a.accepted.map((x) => x.id)).toEqual([e1, e2]);
    expect(b.accepted.map((x) => x.id)).toEqual([e2]);
    expect(a.refused).toEqual([]);
    expect(b.refused).toEqual([]);
    // The new secret's signature first, then the old one's.
    expect(a.accepted[1].signatures).toEqual([sign(NEW, a.accepted[1].raw), sign(OLD, a.accepted[1].raw)]);

    // A switches to the new secret while the overlap runs: still accepted (the first entry).
    a.knows = [NEW];
    const [e3] = await writeOutbox(db, [{ record: 'rec3' }]);
    await d.runOnce();
    expect(a.accepted.map((x) => x.id)).toEqual([e1, e2, e3]);
    expect(b.accepted.map((x) => x.id)).toEqual([e2, e3]);

    // The overlap is over: one signature, the new secret's. A receiver still on the old one refuses.
    await clock.advance(HOUR + 1000);
    b.knows = [OLD];
    const [e4] = await writeOutbox(db, [{ record: 'rec4' }]);
    await d.runOnce();
    expect(a.accepted.map((x) => x.id)).toEqual([e1, e2, e3, e4]);
    expect(a.accepted[3].signatures).toHaveLength(1);
    expect(b.refused.map((x) => x.id)).toEqual([e4]);
    expect(b.refused[0].signatures).toHaveLength(1);

    // The refusal is in B's subscription's delivery log with the receiver's answer; once B has the
    // new secret, the retry goes through and is logged as the second try.
    const failed = await deliveries(other, '?status=failed');
    expect(failed.json.results[0]).toMatchObject({
      event_id: e4,
      attempt: 1,
      status: 'failed',
      http_status: 401,
      error: 'receiver answered HTTP 401',
      delivered_at: null,
    });
    b.knows = [NEW];
    await clock.advance(2000);
    await d.runOnce();
    expect(b.accepted.map((x) => x.id)).toEqual([e2, e3, e4]);
    const log4 = await deliveries(other, `?event_id=${e4}`);
    expect(log4.json.results.map((x: { attempt: number; status: string }) => [x.attempt, x.status])).toEqual([
      [2, 'delivered'],
      [1, 'failed'],
    ]);
  });

  it('secret_overlap_seconds alone ends a running overlap early; 0 on a rotation sends one signature at once', async () => {
    const id = await subscribe();
    const d = deliverer();
    const noOverlap = await patch(id, { secret_overlap_seconds: 60 });
    expect(noOverlap.status).toBe(400);
    expect(noOverlap.json.attr).toBe('secret_overlap_seconds');
    await patch(id, { secret: NEW });
    const running = await call('GET', `/subscriptions/${id}`);
    expect(running.json.second_signature_until).toBe(new Date(clock.now() + 24 * HOUR).toISOString());
    const ended = await patch(id, { secret_overlap_seconds: 0 });
    expect(ended.json.second_signature_until).toBe(new Date(clock.now()).toISOString());
    a.knows = [NEW];
    const [e1] = await writeOutbox(db, [{ record: 'rec1' }]);
    await d.runOnce();
    expect(a.accepted.map((x) => [x.id, x.signatures.length])).toEqual([[e1, 1]]);

    const at = await patch(id, { secret: 'whsec-third-0123456789', secret_overlap_seconds: 0 });
    expect(at.json.second_signature_until).toBeNull();
    a.knows = ['whsec-third-0123456789'];
    const [e2] = await writeOutbox(db, [{ record: 'rec2' }]);
    await d.runOnce();
    expect(a.accepted.map((x) => [x.id, x.signatures.length])).toEqual([
      [e1, 1],
      [e2, 1],
    ]);
  });
});

describe('pausing and resuming', () => {
  it('a paused subscription receives nothing and loses nothing: events wait (never pruned) and go out in order on resume', async () => {
    const id = await subscribe();
    const d = deliverer({ outboxRetentionMs: 1000 });
    const paused = await patch(id, { active: false });
    expect(paused.json.active).toBe(false);
    const ids = await writeOutbox(db, [
      { record: 'rec1', op: 'insert' },
      { record: 'rec1', op: 'update' },
      { record: 'rec2', op: 'insert' },
    ]);
    await clock.advance(2 * HOUR);
    const pass = await d.runOnce();
    expect(pass.delivered).toBe(0);
    expect(a.accepted).toEqual([]);
    expect(await outboxCount()).toBeGreaterThanOrEqual(3);
    const resumed = await patch(id, { active: true });
    expect(resumed.json.active).toBe(true);
    await d.runOnce();
    // In order per record (records go out side by side).
    const of = (record: string) =>
      a.accepted.filter((x) => JSON.parse(x.raw).record_id === record).map((x) => x.id);
    expect(of('rec1')).toEqual([ids[0], ids[1]]);
    expect(of('rec2')).toEqual([ids[2]]);
  });

  it('resuming wakes a listening deliverer at once (every process: through the outbox channel)', async () => {
    const id = await subscribe();
    await patch(id, { active: false });
    const d = deliverer({ listen: undefined, pollIntervalMs: 600_000, now: () => new Date() });
    d.start();
    const [e1] = await writeOutbox(db, [{ record: 'rec1' }]);
    // Let its wake-up for that write pass: nothing goes to a paused subscription.
    await d.runOnce();
    expect(a.accepted).toEqual([]);
    await patch(id, { active: true });
    await waitUntil(() => a.accepted.length === 1, { what: 'the resumed delivery', timeoutMs: 10_000 });
    expect(a.accepted[0].id).toBe(e1);
  });

  it('a new url is tried at once, without waiting out the backoff of the old one', async () => {
    const id = await subscribe();
    const d = deliverer({ retryBaseMs: 600_000 });
    a.status = 503;
    const [e1] = await writeOutbox(db, [{ record: 'rec1' }]);
    await d.runOnce();
    const failing = await call('GET', `/subscriptions/${id}`);
    expect(failing.json.delivery).toMatchObject({ failing_event_id: e1, attempts: 1 });
    expect(failing.json.delivery.next_attempt_at).not.toBeNull();
    const moved = await patch(id, { url: b.url });
    expect(moved.json.url).toBe(b.url);
    expect(moved.json.delivery.next_attempt_at).toBeNull();
    await d.runOnce(); // the clock has not moved: only the reset wait lets it through
    expect(b.accepted.map((x) => x.id)).toEqual([e1]);
  });

  it('changes the filters: only what is sent', async () => {
    const id = await subscribe({ event_types: ['record.inserted'] });
    const d = deliverer();
    const r = await patch(id, { event_types: ['record.deleted'] });
    expect(r.json).toMatchObject({ event_types: ['record.deleted'], url: a.url, active: true });
    const [, del] = await writeOutbox(db, [
      { record: 'rec1', op: 'insert' },
      { record: 'rec1', op: 'delete' },
    ]);
    await d.runOnce();
    expect(a.accepted.map((x) => x.id)).toEqual([del]);
    expect((await patch(id, { event_types: null })).json.event_types).toBeNull();
  });

  it.each([
    [{ active: 'no' }, 'active'],
    [{ url: 'ftp://example.com/x' }, 'url'],
    [{ secret: 'short' }, 'secret'],
    [{ secret_overlap_seconds: -1 }, 'secret_overlap_seconds'],
    [{ secret_overlap_seconds: 8 * 24 * 3600 }, 'secret_overlap_seconds'],
    [{ colour: 'red' }, 'colour'],
  ])('%j → 400 naming %s', async (body, attr) => {
    const id = await subscribe();
    const r = await patch(id, body);
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe(attr);
  });

  it('answers 404 for an unknown subscription', async () => {
    expect((await patch('sub_nope', { active: false })).status).toBe(404);
    expect((await deliveries('sub_nope')).status).toBe(404);
  });
});

describe('urls with credentials', () => {
  it('are refused on create and on change, naming url', async () => {
    const withPassword = a.url.replace('http://', 'http://user:pass@');
    const created = await call('POST', '/subscriptions', { url: withPassword, secret: OLD });
    expect(created.status).toBe(400);
    expect(created.json.attr).toBe('url');
    expect(created.json.detail).toMatch(/user name or password/);
    const userOnly = await call('POST', '/subscriptions', {
      url: a.url.replace('http://', 'http://user@'),
      secret: OLD,
    });
    expect(userOnly.status).toBe(400);
    const id = await subscribe();
    const changed = await patch(id, { url: withPassword });
    expect(changed.status).toBe(400);
    expect(changed.json.attr).toBe('url');
    expect((await call('GET', `/subscriptions/${id}`)).json.url).toBe(a.url);
  });

  it('stored before they were refused: never shown, and delivery says what to do', async () => {
    const id = await subscribe();
    await db.query(
      sql('UPDATE airmirror.subscriptions SET url = $2 WHERE id = $1', [
        id,
        a.url.replace('http://', 'http://admin:s3cr3t-pw@'),
      ]),
    );
    const one = await call('GET', `/subscriptions/${id}`);
    const all = await call('GET', '/subscriptions');
    for (const text of [one.text, all.text]) {
      expect(text).not.toContain('s3cr3t-pw');
      expect(text).not.toContain('admin');
    }
    expect(one.json.url).toBe(a.url.replace('http://', 'http://redacted@'));
    const [e1] = await writeOutbox(db, [{ record: 'rec1' }]);
    await deliverer().runOnce();
    const after = await call('GET', `/subscriptions/${id}`);
    expect(after.json.delivery.last_error).toMatch(/contains credentials; change it/);
    expect(after.text).not.toContain('s3cr3t-pw');
    // Fixed by a PATCH, and the event goes out at once.
    await patch(id, { url: a.url });
    await deliverer().runOnce();
    expect(a.accepted.map((x) => x.id)).toEqual([e1]);
  });
});

describe('the delivery log', () => {
  it('lists attempts newest first, with filters, and refuses bad queries', async () => {
    const id = await subscribe();
    const d = deliverer();
    const [e1, e2] = await writeOutbox(db, [{ record: 'rec1' }, { record: 'rec2' }]);
    await d.runOnce();
    const all = await deliveries(id);
    expect(all.status).toBe(200);
    expect(all.json).toMatchObject({ count: 2, next: null, previous: null });
    expect(all.json.results.map((x: { event_id: number }) => x.event_id).sort()).toEqual([e1, e2]);
    expect(all.json.results[0]).toMatchObject({
      attempt: 1,
      status: 'delivered',
      http_status: 200,
      error: null,
      replay: false,
      attempted_at: now().toISOString(),
      delivered_at: now().toISOString(),
    });
    expect((await deliveries(id, '?status=failed')).json.count).toBe(0);
    expect((await deliveries(id, `?event_id=${e2}`)).json.results).toHaveLength(1);
    expect((await deliveries(id, '?limit=1')).json.results).toHaveLength(1);
    for (const q of ['?limit=0', '?limit=5000', '?status=lost', '?event_id=x', '?colour=red']) {
      const r = await deliveries(id, q);
      expect(r.status, q).toBe(400);
    }
  });

  it('logs a dead letter replayed by hand', async () => {
    const id = await subscribe();
    const d = deliverer({ retryWindowMs: 0 });
    a.status = 500;
    const [e1] = await writeOutbox(db, [{ record: 'rec1' }]);
    await d.runOnce();
    a.status = 200;
    const replay = await call('POST', `/subscriptions/${id}/dead-letters/${e1}/replay`);
    expect(replay.status).toBe(200);
    const log1 = await deliveries(id, `?event_id=${e1}`);
    expect(log1.json.results[0]).toMatchObject({ status: 'delivered', replay: true, attempt: 2 });
    expect(log1.json.results[1]).toMatchObject({ status: 'failed', replay: false, http_status: 500 });
  });

  it(`keeps the last ${DELIVERY_LOG_SIZE} attempts of a subscription, no more`, async () => {
    const id = await subscribe();
    const d = deliverer();
    const n = DELIVERY_LOG_SIZE + 50;
    const ids = await writeOutbox(
      db,
      Array.from({ length: n }, (_, i) => ({ record: `rec${i}` })),
    );
    await d.runOnce();
    expect(a.accepted).toHaveLength(n);
    const kept = await db.query<{ n: string; lo: string; hi: string }>(
      sql(
        'SELECT count(*) AS n, min(event_id) AS lo, max(event_id) AS hi FROM airmirror.deliveries WHERE subscription_id = $1',
        [id],
      ),
    );
    expect(Number(kept.rows[0].n)).toBe(DELIVERY_LOG_SIZE);
    expect(Number(kept.rows[0].hi)).toBe(ids[n - 1]);
    expect(Number(kept.rows[0].lo)).toBe(ids[50]);
    const newest = await deliveries(id, '?limit=1000');
    expect(newest.json.results).toHaveLength(1000);
    expect(newest.json.results[0].event_id).toBe(ids[n - 1]);
  });
});
