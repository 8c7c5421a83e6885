/**
 * The endpoint's own JavaScript per select-only transaction, without sockets: a Session and its
 * Relay fed the client's messages and Postgres' answers in process (sinks that only count bytes),
 * CPU time per transaction, the best of five runs. What the endpoint adds over a bare byte relay
 * (the rest of its cost per transaction is the socket I/O any relay pays). Used by pg-endpoint.ts
 * (a leading `_`: bench/run.ts does not run it on its own).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { MirrorCatalog } from '../proxy/pg/catalog.ts';
import { loadParser } from '../proxy/pg/classify.ts';
import { commandComplete, readyForQuery, serialize } from '../proxy/pg/protocol.ts';
import { Relay } from '../proxy/pg/relay.ts';
import { Session } from '../proxy/pg/session.ts';

class Sink extends EventEmitter {
  bytes = 0;
  write(b: Buffer): boolean {
    this.bytes += b.length;
    return true;
  }
  isPaused(): boolean {
    return false;
  }
  pause(): void {}
  resume(): void {}
  destroy(): void {}
}

function frame(type: string, body: Buffer): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b[0] = type.charCodeAt(0);
  b.writeUInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
}

/** One int4 column `abalance`, one row `0`: what Postgres answers the pgbench select. */
const ANSWER = Buffer.concat([
  frame('T', Buffer.from('0001616262616c616e636500000000000000000000170004ffffffff0000', 'hex')),
  frame('D', Buffer.from('00010000000130', 'hex')),
  commandComplete('SELECT 1'),
  readyForQuery(0x49),
]);
const SELECT = 'SELECT abalance FROM pgbench_accounts WHERE aid = ';

export async function relayJsUsPerTx(protocol: 'simple' | 'extended', n = 200_000): Promise<number> {
  await loadParser();
  const client = new Sink();
  const upstream = new Sink();
  const relay = new Relay(client as unknown as Duplex, upstream as unknown as Duplex);
  // The read path never asks the catalog: one that cannot answer proves it.
  const catalog = new MirrorCatalog({
    query: () => Promise.reject(new Error('the read path asked the catalog')),
  } as never);
  const session = new Session({ relay, catalog, deps: {} as never, onClose: () => undefined });
  relay.start(session, Buffer.alloc(0), Buffer.alloc(0));
  const requests = Array.from({ length: 1000 }, (_, i) =>
    protocol === 'simple'
      ? serialize.query(`${SELECT}${i + 1}`)
      : Buffer.concat([
          serialize.parse({ text: `${SELECT}$1`, types: [] }),
          serialize.bind({ values: [String(i + 1)] }),
          serialize.describe({ type: 'P' }),
          serialize.execute(),
          serialize.sync(),
        ]),
  );
  const answer =
    protocol === 'simple'
      ? ANSWER
      : Buffer.concat([frame('1', Buffer.alloc(0)), frame('2', Buffer.alloc(0)), ANSWER]);
  const run = (count: number) => {
    for (let i = 0; i < count; i++) {
      client.emit('data', requests[i % requests.length]);
      upstream.emit('data', answer);
    }
  };
  run(20_000);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage();
    run(n / 5);
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / (n / 5));
  }
  if (relay.closed || client.bytes === 0 || upstream.bytes === 0) throw new Error('nothing was relayed');
  return best;
}
