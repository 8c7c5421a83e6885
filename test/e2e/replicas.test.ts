/**
 * Three `airmirror start` replicas on one Postgres (issue 12, docs/ownership.md): together they
 * list each table once and build an exact mirror, spread the bases between them, never run one
 * table in two processes at once, show who owns what, and a clean stop hands its bases over.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../support/wait.ts';
import {
  allCompleted,
  api,
  BASES,
  overlappingRuns,
  ownersByPid,
  query,
  SIZES,
  tableStates,
  useReplicaCluster,
} from './replicas-support.ts';

const cluster = await useReplicaCluster({ timeoutMs: 180_000 });
const t = cluster.db;

const until = <T>(what: string, fn: () => T | Promise<T>, timeoutMs = 90_000) =>
  waitUntil(fn, { what, timeoutMs, intervalMs: 200, retryErrors: true });

const pages = (n: number) => Math.max(1, Math.ceil(n / 100));

// Each test may wait up to `until`'s 90 s for the replicas (under load the reloads and hand-overs
// take a while): vitest's default of 30 s per test would cut a wait the test means to allow.
describe('three replicas on one Postgres', { timeout: 120_000 }, () => {
  it('build the mirror together, listing each table once', async () => {
    await until('every table of the three bases to be Completed', () => allCompleted(t.url));
    // No 429 first: a refused page is listed again, so a 429 would show as an extra listing below.
    expect(cluster.upstream.emulator.control.calls().filter((c) => c.status === 429)).toEqual([]);
    const tables: [string, string, number][] = [
      [BASES.shop, 'Orders', SIZES.orders],
      [BASES.b2, 'Items', SIZES.items],
      [BASES.b2, 'Notes', SIZES.notes],
      [BASES.b3, 'Items', SIZES.items],
      [BASES.b3, 'Notes', SIZES.notes],
    ];
    for (const [baseId, name, size] of tables) {
      const calls = cluster.upstream.listCalls(baseId, cluster.upstream.tableId(baseId, name));
      expect(calls, `${baseId} ${name}`).toBeGreaterThanOrEqual(pages(size));
      expect(calls, `${baseId} ${name}`).toBeLessThanOrEqual(pages(size) + 1);
    }
    // The demo base's small tables too: one page each, listed once.
    for (const name of ['Customers', 'Products']) {
      expect(
        cluster.upstream.listCalls(BASES.shop, cluster.upstream.tableId(BASES.shop, name)),
      ).toBeLessThanOrEqual(2);
    }
    const v = await cluster.harness.verify();
    expect(v.output).toContain('"drift": 0');
    expect(v.code).toBe(0);
  });

  it('spread the bases: each replica owns one', async () => {
    const pids = cluster.replicas.map((r) => r.pid).sort();
    const owners = await until('one base per replica', async () => {
      const o = await ownersByPid(t.url);
      return o.size === 3 && [...new Set(o.values())].sort().join() === pids.join() ? o : undefined;
    });
    expect([...owners.keys()].sort()).toEqual(Object.values(BASES).sort());
  });

  it('show the owner of each base and its heartbeat in status, /api/status and /metrics', async () => {
    const owners = await ownersByPid(t.url);
    const res = await api(cluster.replicas[0], 'GET', '/status');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      tables: {
        source_id: string;
        owner: { pid: number; host: string; heartbeat_age_seconds: number } | null;
      }[];
      processes: { pid: number; alive: boolean; bases: string[]; role: string }[];
    };
    for (const table of body.tables) {
      expect(table.owner?.pid).toBe(owners.get(table.source_id));
      expect(table.owner!.heartbeat_age_seconds).toBeLessThan(20);
    }
    expect(
      body.processes
        .filter((p) => p.alive)
        .map((p) => p.pid)
        .sort(),
    ).toEqual(cluster.replicas.map((r) => r.pid).sort());
    for (const p of body.processes) expect(p.role).toBe('start');
    const metrics = await (await fetch(`${cluster.replicas[1].url}/metrics`)).text();
    for (const [source, pid] of owners) {
      expect(metrics).toMatch(
        new RegExp(`airmirror_base_owner\\{(?=[^}]*source="${source}")(?=[^}]*pid="${pid}")[^}]*\\} 1`),
      );
    }
    expect(metrics).toMatch(/airmirror_process_heartbeat_age_seconds\{/);
  });

  it('never run one table in two processes at once, however many reloads reach however many replicas', async () => {
    const schemas = await query<{ id: string }>(t.url, 'SELECT id FROM airmirror.tables ORDER BY id');
    const before = Number(
      (await query<{ n: string }>(t.url, 'SELECT count(*) AS n FROM airmirror.sync_runs'))[0].n,
    );
    // Every replica asks for every table, twice, at once: owners run them, others pass them on.
    const answers = await Promise.all(
      [0, 1].flatMap(() =>
        cluster.replicas.flatMap((r) =>
          schemas.map((s) => api(r, 'POST', `/schemas/${s.id}/reload`).then((x) => x.status)),
        ),
      ),
    );
    expect(answers.every((s) => s === 202 || s === 409)).toBe(true);
    await until('the reloads to have run', async () => {
      const n = Number(
        (await query<{ n: string }>(t.url, 'SELECT count(*) AS n FROM airmirror.sync_runs'))[0].n,
      );
      return n >= before + schemas.length && (await allCompleted(t.url));
    });
    expect(await overlappingRuns(t.url)).toEqual([]);
  });

  it('a clean stop hands its bases over at once, and the mirror stays exact', async () => {
    const owners = await ownersByPid(t.url);
    const victim = cluster.replicas.find((r) => r.pid === owners.get(BASES.b2))!;
    victim.child.kill('SIGTERM');
    expect(await victim.exited).toBe(0);
    const newOwner = await until('another replica to own the base', async () => {
      const pid = (await ownersByPid(t.url)).get(BASES.b2);
      return pid !== undefined && pid !== victim.pid ? pid : undefined;
    });
    expect(cluster.replicas.map((r) => r.pid)).toContain(newOwner);
    const gone = await query(t.url, 'SELECT 1 FROM airmirror.processes WHERE pid = $1', [victim.pid]);
    expect(gone).toEqual([]);
    const states = await tableStates(t.url);
    expect([...states.values()].filter((s) => s === 'Running')).toEqual([]);
    cluster.replicas = cluster.replicas.filter((r) => r !== victim);
    await until('the two left to share the three bases', async () => {
      const o = await ownersByPid(t.url);
      return o.size === 3 && new Set(o.values()).size === 2;
    });
    expect(await overlappingRuns(t.url)).toEqual([]);
    const v = await cluster.harness.verify();
    expect(v.code).toBe(0);
  });
});
