/**
 * Events delivered per second to a local receiver: N outbox rows over many records, one
 * subscription, the deliverer draining them over loopback HTTP. Prints one JSON line.
 * Uses DATABASE_URL when set, otherwise a throwaway embedded Postgres.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretBox } from '../src/crypto/secrets.ts';
import { createDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { sql } from '../src/db/sql.ts';
import { createDeliverer } from '../src/events/deliverer.ts';
import { subscriptionRoutes } from '../src/events/routes.ts';
import { createLogger } from '../src/log.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 5_000);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 500);

const dir = process.env.DATABASE_URL ? undefined : mkdtempSync(join(tmpdir(), 'airmirror-bench-events-'));
const pgHandle = dir
  ? await startEmbeddedPostgres({ dataDir: dir, persistent: false, durable: false })
  : undefined;
const db = createDatabase(process.env.DATABASE_URL ?? pgHandle!.url);
let received = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received++;
    res.statusCode = 204;
    res.end();
  });
});
try {
  await migrate(db);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const secrets = createSecretBox('bench-key-0123456789abcdef');
  const api = subscriptionRoutes({ db, secrets, fetch });
  const created = await api.request('/subscriptions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, secret: 'bench-secret-0123456789' }),
  });
  if (created.status !== 201) throw new Error(`subscription: HTTP ${created.status}`);

  await db.query(
    sql(
      `INSERT INTO airmirror.outbox (source_id, table_id, mirror_schema, mirror_table, record_id, op, origin,
         before, after, changed_columns)
       SELECT 'src_bench', 'tblBENCHBENCHBEN', 'public', 'bench', 'rec' || lpad((g % $2)::text, 14, '0'),
         'update', 'sweep', jsonb_build_object('n', g - 1), jsonb_build_object('n', g), ARRAY['n']
       FROM generate_series(1, $1) g`,
      [EVENTS, RECORDS],
    ),
  );

  const deliverer = createDeliverer({
    db,
    fetch,
    secrets,
    log: createLogger({ level: 'silent' }),
    listen: false,
  });
  const started = performance.now();
  while (received < EVENTS) {
    const r = await deliverer.runOnce();
    if (r.delivered === 0 && r.failed > 0) throw new Error('receiver refused events');
  }
  const seconds = (performance.now() - started) / 1000;
  await deliverer.stop();
  process.stdout.write(
    JSON.stringify({
      events: EVENTS,
      records: RECORDS,
      seconds: Number(seconds.toFixed(3)),
      events_per_second: Math.round(EVENTS / seconds),
    }) + '\n',
  );
} finally {
  server.close();
  await db.close();
  await pgHandle?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
