/**
 * `kill -9` of the replica that owns a base, in the middle of a sweep and in the middle of a
 * rebuild (issue 12, docs/ownership.md): another replica takes the base over within 30 s, drops
 * what the dead one left (its Running tables, its swap schema), runs the interrupted work again,
 * and `verify` finds the mirror exact — no change lost, none duplicated.
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
  useReplicaCluster,
  type Replica,
} from './replicas-support.ts';

const until = <T>(what: string, fn: () => T | Promise<T>, timeoutMs = 90_000) =>
  waitUntil(fn, { what, timeoutMs, intervalMs: 100, retryErrors: true });

const cluster = await useReplicaCluster({
  timeoutMs: 240_000,
  ready: ({ db }) => until('the first build of every base', () => allCompleted(db.url)),
});
const t = cluster.db;

/** The schema id (`airmirror.tables.id`) and Airtable id of a table of the demo base. */
async function shopTable(name: string): Promise<{ schemaId: string; tableId: string }> {
  const [row] = await query<{ id: string; table_id: string }>(
    t.url,
    'SELECT id, table_id FROM airmirror.tables WHERE source_id = $1 AND table_name = $2',
    [BASES.shop, name],
  );
  return { schemaId: row.id, tableId: row.table_id };
}

/** Kills the owner of the demo base with SIGKILL; resolves with it and when it died. */
async function killShopOwner(): Promise<{ victim: Replica; killedAt: number }> {
  const pid = (await ownersByPid(t.url)).get(BASES.shop)!;
  const victim = cluster.replicas.find((r) => r.pid === pid)!;
  victim.child.kill('SIGKILL');
  await victim.exited;
  cluster.replicas = cluster.replicas.filter((r) => r !== victim);
  return { victim, killedAt: Date.now() };
}

/** Another live replica owns the demo base (by its lock): within 30 s of the kill. */
async function takenOverBy(victim: Replica): Promise<number> {
  return waitUntil(
    async () => {
      const pid = (await ownersByPid(t.url)).get(BASES.shop);
      return pid !== undefined && pid !== victim.pid ? pid : undefined;
    },
    { what: 'another replica to take the base over', timeoutMs: 30_000, intervalMs: 100, retryErrors: true },
  );
}

describe('kill -9 of the owner', () => {
  it('mid-sweep: another replica takes over, runs the table again, and the mirror is exact', async () => {
    const orders = await shopTable('Orders');
    // Changes in Airtable the sweep has to bring in: a new record, an edit, a deletion.
    const c = cluster.upstream.emulator.control;
    const [created] = c.createRecords(BASES.shop, 'Orders', [{ fields: { Order: 'DURING-TAKEOVER' } }]);
    const [edit, gone] = await query<{ id: string }>(t.url, 'SELECT id FROM shop.orders ORDER BY id LIMIT 2');
    c.updateRecords(BASES.shop, 'Orders', [{ id: edit.id, fields: { Notes: 'edited during the takeover' } }]);
    c.deleteRecords(BASES.shop, 'Orders', [gone.id]);
    const gate = cluster.upstream.holdListing(orders.tableId, 2);
    const first = cluster.replicas[0];
    expect((await api(first, 'POST', `/schemas/${orders.schemaId}/reload`)).status).toBe(202);
    await gate.reached;
    const [running] = await query<{ status: string }>(
      t.url,
      'SELECT status FROM airmirror.tables WHERE id = $1',
      [orders.schemaId],
    );
    expect(running.status).toBe('Running');
    const { victim } = await killShopOwner();
    gate.release();
    await takenOverBy(victim);
    await until('Orders to be synced again by the new owner', async () => {
      const rows = await query<{ status: string; n: string }>(
        t.url,
        `SELECT t.status, (SELECT count(*) FROM shop.orders WHERE id = $2)::text AS n
           FROM airmirror.tables t WHERE t.id = $1`,
        [orders.schemaId, created.id],
      );
      return rows[0].status === 'Completed' && rows[0].n === '1';
    });
    expect(await query(t.url, 'SELECT notes FROM shop.orders WHERE id = $1', [edit.id])).toEqual([
      { notes: 'edited during the takeover' },
    ]);
    expect(await query(t.url, 'SELECT 1 FROM shop.orders WHERE id = $1', [gone.id])).toEqual([]);
    // The dead replica's run was closed as interrupted, before the new owner's began.
    const runs = await query<{ status: string; error: string | null }>(
      t.url,
      `SELECT status, error FROM airmirror.sync_runs WHERE table_id = $1 ORDER BY id`,
      [orders.tableId],
    );
    expect(runs.some((r) => r.status === 'failed' && /interrupted/.test(r.error ?? ''))).toBe(true);
    expect(runs[runs.length - 1].status).toBe('completed');
    expect(await overlappingRuns(t.url)).toEqual([]);
    const v = await cluster.harness.verify();
    expect(v.output).toContain('"drift": 0');
    expect(v.code).toBe(0);
  }, 120_000);

  it('mid-rebuild: the new owner drops the swap schema, rebuilds, and the mirror is exact', async () => {
    await until('every table Completed', () => allCompleted(t.url));
    const orders = await shopTable('Orders');
    const c = cluster.upstream.emulator.control;
    // A field retyped so its values must be read again (a number becomes a single select): the
    // next sync fills Orders again through shop_swap (docs/schema-changes.md). A new field would
    // be added in place, with no swap schema.
    c.changeFieldType(BASES.shop, 'Orders', 'Quantity', 'singleSelect');
    const [edited] = c.createRecords(BASES.shop, 'Orders', [
      { fields: { Order: 'REBUILD-1', Notes: 'during the refill' } },
    ]);
    const gate = cluster.upstream.holdListing(orders.tableId, 1);
    expect((await api(cluster.replicas[0], 'POST', `/schemas/${orders.schemaId}/reload`)).status).toBe(202);
    await gate.reached;
    const swap = await query(t.url, `SELECT 1 FROM pg_namespace WHERE nspname = 'shop_swap'`);
    expect(swap).toHaveLength(1);
    const { victim } = await killShopOwner();
    gate.release();
    await takenOverBy(victim);
    await until('the rebuild to be done by the new owner', async () => {
      const cols = await query(
        t.url,
        `SELECT 1 FROM information_schema.columns WHERE table_schema = 'shop' AND table_name = 'orders'
            AND column_name = 'quantity' AND data_type = 'text'`,
      );
      return cols.length === 1 && (await allCompleted(t.url));
    });
    const row = await query<{ notes: string }>(t.url, 'SELECT notes FROM shop.orders WHERE id = $1', [
      edited.id,
    ]);
    expect(row).toEqual([{ notes: 'during the refill' }]);
    expect(await query(t.url, `SELECT 1 FROM pg_namespace WHERE nspname = 'shop_swap'`)).toEqual([]);
    expect(await overlappingRuns(t.url)).toEqual([]);
    const v = await cluster.harness.verify();
    expect(v.output).toContain('"drift": 0');
    expect(v.code).toBe(0);
  }, 120_000);

  it('cut off (frozen): its bases go to another replica within 30 s; woken up, it writes nothing more and rejoins', async () => {
    // Two killed so far: one more replica joins, so someone is left to take over.
    cluster.replicas.push(await cluster.harness.startReplica());
    await until('every table Completed', () => allCompleted(t.url));
    const orders = await shopTable('Orders');
    const [created] = cluster.upstream.emulator.control.createRecords(BASES.shop, 'Orders', [
      { fields: { Order: 'WHILE-FROZEN' } },
    ]);
    const gate = cluster.upstream.holdListing(orders.tableId, 2);
    expect((await api(cluster.replicas[0], 'POST', `/schemas/${orders.schemaId}/reload`)).status).toBe(202);
    await gate.reached;
    const pid = (await ownersByPid(t.url)).get(BASES.shop)!;
    const frozen = cluster.replicas.find((r) => r.pid === pid)!;
    // SIGSTOP: the process neither answers nor closes its connections, as when cut off from
    // Postgres; only the server's deadline on its ownership session can free its bases.
    frozen.child.kill('SIGSTOP');
    try {
      await takenOverBy(frozen);
    } finally {
      gate.release();
      frozen.child.kill('SIGCONT');
    }
    await until('Orders synced by the new owner', async () => {
      const rows = await query<{ status: string; n: string }>(
        t.url,
        `SELECT t.status, (SELECT count(*) FROM shop.orders WHERE id = $2)::text AS n
           FROM airmirror.tables t WHERE t.id = $1`,
        [orders.schemaId, created.id],
      );
      return rows[0].status === 'Completed' && rows[0].n === '1';
    });
    // Woken, it finds its session gone, stops that work, and takes part again (never exits).
    await until('the woken process to be alive again', async () => {
      const rows = await query<{ n: string }>(
        t.url,
        `SELECT count(*)::text AS n FROM airmirror.processes p WHERE p.pid = $1 AND p.heartbeat_at > now() - interval '5 s'`,
        [frozen.pid],
      );
      return rows[0].n === '1';
    });
    expect(frozen.child.exitCode).toBeNull();
    expect(await overlappingRuns(t.url)).toEqual([]);
    const v = await cluster.harness.verify();
    expect(v.output).toContain('"drift": 0');
    expect(v.code).toBe(0);
  }, 180_000);
});
