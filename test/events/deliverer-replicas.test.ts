/**
 * Two processes deliver events from one outbox (docs/ownership.md): a subscription's events go
 * out from one process at a time — the one holding the subscription's row lock for the batch —
 * still in order per record, each once when receivers answer 200. Two Database handles play two
 * processes, each with its own deliverer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { createDeliverer, type Deliverer } from '../../src/events/deliverer.ts';
import { subscriptionRoutes } from '../../src/events/routes.ts';
import { createLogger } from '../../src/log.ts';
import { createTestDatabase } from '../support/db.ts';
import { Receiver, ensureOutbox, testSecrets, writeOutbox } from './support.ts';

const { db, url } = await createTestDatabase();
await ensureOutbox(db);
const second = createDatabase(url, { max: 5 });
const log = createLogger({ level: 'silent' });
let receiver: Receiver;

beforeAll(async () => {
  receiver = await new Receiver().start();
});
afterAll(async () => {
  await receiver.stop();
  await second.close();
});

describe('two processes delivering one subscription', () => {
  it('never post for it at the same time, and deliver every event once, in order per record', async () => {
    const api = subscriptionRoutes({ db, secrets: testSecrets, fetch });
    const res = await api.request('/subscriptions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, secret: 'whsec-replicas-0123456789' }),
    });
    expect(res.status).toBe(201);

    // Who is posting right now, by process: both at once would break "one process at a time".
    const inFlight = { A: 0, B: 0 };
    const overlaps: string[] = [];
    const posting = (who: 'A' | 'B'): typeof fetch => {
      const other = who === 'A' ? 'B' : 'A';
      return async (input, init) => {
        inFlight[who]++;
        if (inFlight[other] > 0) overlaps.push(`${who} posted while ${other} was posting`);
        try {
          // A receiver that takes a moment, so the two processes' passes really meet.
          await new Promise((r) => setTimeout(r, 2));
          return await fetch(input, init);
        } finally {
          inFlight[who]--;
        }
      };
    };
    const make = (d: typeof db, who: 'A' | 'B'): Deliverer =>
      createDeliverer({
        db: d,
        fetch: posting(who),
        secrets: testSecrets,
        log,
        listen: false,
        batchSize: 10,
      });
    const a = make(db, 'A');
    const b = make(second, 'B');

    const records = Array.from({ length: 12 }, (_, i) => `rec${String(i).padStart(14, '0')}`);
    const written: number[] = [];
    for (let round = 0; round < 5; round++) {
      written.push(
        ...(await writeOutbox(
          db,
          records.map((record) => ({ record })),
        )),
      );
      // Both processes pass at once, several times.
      await Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]);
    }
    await Promise.all([a.runOnce(), b.runOnce()]);

    expect(overlaps).toEqual([]);
    const delivered = receiver.received.map((r) => r.body.id).sort((x, y) => x - y);
    expect(delivered).toEqual([...written].sort((x, y) => x - y));
    for (const record of records) {
      const ids = receiver.idsFor(record);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
    }
    const cursor = await db.query<{ cursor: string }>(
      sql('SELECT cursor::text FROM airmirror.subscriptions'),
    );
    expect(Number(cursor.rows[0].cursor)).toBe(Math.max(...written));
  });
});
