/**
 * `airmirror start` rides through a Postgres restart (issue 14): a child process on a Postgres of
 * this test's own, an app writing through the proxy all along, a table sync in flight when
 * Postgres stops. While it is away the process stays up, `/healthz` says degraded and the app
 * still gets Airtable's answers; once it is back every acknowledged write is in the mirror, no
 * table is left Running, `reload` works and `/healthz` is ok again.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startMirrorProcess,
  tableStatuses,
  waitForTables,
  type MirrorProcess,
} from '../support/airmirror-process.ts';
import { lostWrites, ProxyWriter } from '../support/proxy-writer.ts';
import { waitUntil } from '../support/wait.ts';

let m: MirrorProcess;
/** Change events delivered to our receiver: record id → event types. */
const events = new Map<string, Set<string>>();
let receiver: Server;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const e = JSON.parse(body) as { record_id: string; type: string };
      if (!events.has(e.record_id)) events.set(e.record_id, new Set());
      events.get(e.record_id)!.add(e.type);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  m = await startMirrorProcess({
    records: 300,
    env: { AIRMIRROR_UPSTREAM_TIMEOUT_MS: '4000', AIRMIRROR_RATE_LIMIT: '50' },
  });
  await waitForTables(m, 'the first sync', (s) => [...s.values()].every((t) => t.status === 'Completed'));
}, 120_000);

afterAll(async () => {
  await m?.stop();
  await new Promise((r) => receiver?.close(r));
}, 60_000);

/** Sessions LISTENing for the outbox (the deliverer's one). */
const listeners = async () =>
  Number(
    (
      await m.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND backend_type = 'client backend'",
      )
    )[0].n,
  );

const health = async () => {
  const res = await fetch(`${m.url}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const mirrorNotes = async () =>
  new Map(
    (await m.query<{ id: string; notes: string | null }>(`SELECT id, notes FROM ${m.schema}.customers`)).map(
      (r) => [r.id, r.notes],
    ),
  );

describe('a Postgres restart under airmirror start', () => {
  it('keeps the process up, answers the app, and loses nothing', async () => {
    expect(await health()).toEqual({
      status: 200,
      body: { status: 'ok', postgres: 'ok', catchup_pending: 0 },
    });
    const port = (receiver.address() as AddressInfo).port;
    const sub = await m.api('POST', '/subscriptions', {
      url: `http://127.0.0.1:${port}/events`,
      secret: 'receiver-secret-0123456789abcdef',
      tables: ['customers'],
      event_types: ['record.inserted'],
    });
    expect(sub.status).toBe(201);
    await waitUntil(async () => (await listeners()) === 1, { what: 'the outbox LISTEN', timeoutMs: 20_000 });
    const writer = new ProxyWriter({ proxyUrl: m.proxyUrl, baseId: m.baseId, token: m.token, gapMs: 30 });
    writer.start();
    await waitUntil(() => writer.acknowledged >= 10, { what: 'writes before the outage', timeoutMs: 30_000 });

    // A sync in flight when Postgres goes: Orders' listing hangs until the client gives up (4 s).
    const orders = (await tableStatuses(m)).get('Orders')!;
    // The syncer lists by table id; the call log and fault matching see the path without the query.
    m.emulator.control.fail({ kind: 'hang', count: 1, match: { path: `/${orders.tableId}` } });
    expect((await m.api('POST', `/schemas/${orders.id}/reload`)).status).toBe(202);
    await waitForTables(m, 'Orders running', (s) => s.get('Orders')?.status === 'Running');
    await waitUntil(
      () => m.emulator.control.calls({ path: `/${orders.tableId}` }).some((c) => c.status === null),
      { what: 'the listing to hang', timeoutMs: 20_000 },
    );

    const before = writer.acknowledged;
    const outageStart = Date.now();
    await m.postgres.stop();
    const degraded = await waitUntil(
      async () => {
        const h = await health();
        return h.status === 503 ? h : undefined;
      },
      { what: '/healthz to report the outage', timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(degraded.body).toMatchObject({ status: 'degraded', postgres: 'unreachable' });
    expect(Date.parse(degraded.body.since as string)).toBeGreaterThanOrEqual(outageStart - 1_000);
    // The hung listing is let go now: its next page cannot be applied, the run fails, and the
    // outcome cannot be recorded either — it waits for Postgres.
    m.emulator.control.clearFaults();
    await waitUntil(() => m.output.stderr.includes('recording the run outcome when it answers'), {
      what: 'the run to fail while Postgres is away',
      timeoutMs: 30_000,
    });
    // Airtable keeps acknowledging writes through the proxy; they wait in the catch-up queue.
    await waitUntil(() => writer.acknowledged >= before + 10, {
      what: 'writes during the outage',
      timeoutMs: 30_000,
    });
    expect((await health()).body.catchup_pending).toBeGreaterThan(0);
    // Every write sent while Postgres was away got Airtable's own answer (invariant 5).
    const duringOutage = writer.attempts.filter((a) => a.start >= outageStart);
    expect(duringOutage.length).toBeGreaterThanOrEqual(5);
    expect(duringOutage.filter((a) => a.status !== 200)).toEqual([]);

    await m.postgres.start();
    // LISTEN is re-established on a new session (the old one died with the server).
    await waitUntil(async () => (await listeners()) === 1, {
      what: 'the outbox LISTEN again',
      timeoutMs: 20_000,
      retryErrors: true,
    });
    const acknowledgedDuring = writer.acknowledged - before;
    await waitUntil(() => writer.acknowledged >= before + acknowledgedDuring + 5, {
      what: 'writes after the outage',
      timeoutMs: 30_000,
    });
    await writer.stop();

    // Every write Airtable acknowledged reaches the mirror (catch-up), with its last value.
    const lost = await waitUntil(
      async () => {
        const l = lostWrites(writer.expected(), await mirrorNotes());
        return l.missing.length + l.stale.length + l.undeleted.length === 0 ? l : undefined;
      },
      {
        what: 'every acknowledged write in the mirror',
        timeoutMs: 60_000,
        intervalMs: 200,
        retryErrors: true,
      },
    );
    expect(lost).toEqual({ missing: [], stale: [], undeleted: [] });
    expect(writer.expected().present.size).toBeGreaterThan(10);

    // Their change events went out too: the records created while Postgres was away (and not
    // deleted again meanwhile) reached the mirror through catch-up, and the outbox rows that made
    // were delivered.
    const live = writer.expected().present;
    const createdDuring = writer.attempts
      .filter((a) => a.op === 'create' && a.start >= outageStart && a.status === 200 && live.has(a.id!))
      .map((a) => a.id!);
    expect(createdDuring.length).toBeGreaterThan(0);
    await waitUntil(() => createdDuring.every((id) => events.get(id)?.has('record.inserted')), {
      what: 'the insert events of records created during the outage',
      timeoutMs: 30_000,
    });

    // The run Postgres interrupted was recorded when it came back — failed, with the reason —
    // and, being an interruption (its process lost the base with its ownership session), it is
    // due again at once (docs/ownership.md): Orders runs again by itself and completes. Nothing
    // stays Running.
    const [interrupted] = await m.query<{ status: string; error: string }>(
      `SELECT status, error FROM airmirror.sync_runs
        WHERE table_id = $1 AND started_at < $2 ORDER BY started_at DESC LIMIT 1`,
      [orders.tableId, new Date(outageStart)],
    );
    expect(interrupted.status).toBe('failed');
    expect(interrupted.error).toMatch(/terminat|Connection|ECONNREFUSED|57P01/);
    await waitForTables(m, 'Orders run again by itself', (s) => s.get('Orders')?.status === 'Completed');
    await waitForTables(m, 'no table Running', (s) => [...s.values()].every((t) => t.status !== 'Running'));

    // reload works again, and completes.
    expect((await m.api('POST', `/schemas/${orders.id}/reload`)).status).toBe(202);
    await waitForTables(m, 'Orders completed again', (s) => s.get('Orders')?.status === 'Completed');
    expect(await health()).toEqual({
      status: 200,
      body: { status: 'ok', postgres: 'ok', catchup_pending: 0 },
    });

    // Never exited; said once that Postgres went and once that it came back.
    expect(m.unexpectedExits).toEqual([]);
    expect(m.child.exitCode).toBeNull();
    expect(m.output.stderr).toContain('Postgres is unreachable');
    expect(m.output.stderr).toContain('Postgres answers again');
    expect(m.output.stderr).not.toMatch(/Unhandled|uncaught/i);
  }, 180_000);
});
