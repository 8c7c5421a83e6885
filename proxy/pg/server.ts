/**
 * The Postgres endpoint (docs/postgres-endpoint.md): a Postgres wire-protocol listener in front of
 * the mirror's Postgres. Each client gets a session of its own on Postgres, opened with its own
 * user, database and password, so Postgres authenticates it and its privileges decide what it may
 * do; everything but a write to a mirror table passes through as bytes (proxy/pg/session.ts).
 */
import { randomInt } from 'node:crypto';
import { isLoopback } from '../../src/address.ts';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { CatchupSink } from '../../src/catchup/types.ts';
import type { Database } from '../../src/db/database.ts';
import type { Logger } from '../../src/log.ts';
import type { AirtableAccess } from './airtable.ts';
import { MirrorCatalog } from './catalog.ts';
import { loadParser } from './classify.ts';
import { PgError } from './errors.ts';
import {
  authenticationCleartextPassword,
  authenticationOk,
  backendKeyData,
  CANCEL_REQUEST,
  errorResponse,
  GSSENC_REQUEST,
  negotiateProtocolVersion,
  readStartupPacket,
  readyForQuery,
  SSL_REQUEST,
  T,
} from './protocol.ts';
import { Relay } from './relay.ts';
import { Session } from './session.ts';
import { SocketReader } from './socket-reader.ts';
import {
  cancelUpstream,
  connectUpstream,
  upstreamTarget,
  UpstreamStartupError,
  type UpstreamTarget,
} from './upstream.ts';

export interface PgEndpointOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** When the port is taken and it was not asked for explicitly, listen on a free one instead. */
  fallbackToFreePort?: boolean;
  /** The mirror's Postgres (DATABASE_URL or the embedded one): where sessions go. */
  databaseUrl: string;
  /** PEM certificate and key: SSL for clients, and passwords from other hosts. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  db: Database;
  airtable: AirtableAccess;
  catchup?: CatchupSink;
  log?: Logger;
  /** A client must have finished its start-up within this time. Default 30 s. */
  startupTimeoutMs?: number;
  /** The clock the mirror catalog ages by (tests move it past the 1-s reload window). */
  now?: () => number;
  /** Whether a client address counts as this host (loopback by default; tests stand in for another host). */
  isLocal?: (address: string | undefined) => boolean;
}

export interface PgEndpoint {
  port: number;
  /** Sessions open now. */
  sessions(): number;
  close(): Promise<void>;
}

interface Live {
  session: Session;
  relay: Relay;
  secret: number;
  upstreamPid: number;
  upstreamSecret: number;
}

/** The peer's address (an IP literal from the socket) is loopback: one parser for every check. */
const isLoopbackAddress = (addr: string | undefined): boolean => addr !== undefined && isLoopback(addr);

function fatal(code: string, message: string, hint?: string): Buffer {
  return errorResponse({ severity: 'FATAL', code, message, hint });
}

export async function startPgEndpoint(opts: PgEndpointOptions): Promise<PgEndpoint> {
  await loadParser();
  const target: UpstreamTarget = upstreamTarget(opts.databaseUrl);
  const secureContext = opts.tls
    ? tls.createSecureContext({ cert: opts.tls.cert, key: opts.tls.key })
    : undefined;
  const catalog = new MirrorCatalog(opts.db, undefined, opts.now);
  await catalog.current();
  const live = new Map<number, Live>();
  const sockets = new Set<net.Socket>();
  const deps = { db: opts.db, airtable: opts.airtable, catchup: opts.catchup, log: opts.log };

  async function handshake(socket: net.Socket): Promise<void> {
    const loopback = (opts.isLocal ?? isLoopbackAddress)(socket.remoteAddress);
    let stream: Duplex = socket;
    let secure = false;
    let reader = new SocketReader(stream);
    let params: Record<string, string> = {};
    let minor = 0;
    for (;;) {
      const packet = await reader.untyped();
      const { code, params: p } = readStartupPacket(packet);
      if (code === SSL_REQUEST && !secure) {
        reader.release();
        if (!secureContext) {
          stream.write('N');
          reader = new SocketReader(stream);
          continue;
        }
        stream.write('S');
        stream = new tls.TLSSocket(socket, { isServer: true, secureContext });
        secure = true;
        reader = new SocketReader(stream);
        continue;
      }
      if (code === GSSENC_REQUEST) {
        stream.write('N');
        continue;
      }
      if (code === CANCEL_REQUEST) {
        const pid = packet.readInt32BE(8);
        const secret = packet.readInt32BE(12);
        const l = live.get(pid);
        if (l && l.secret === secret) {
          l.session.cancel();
          await cancelUpstream(target, l.upstreamPid, l.upstreamSecret);
        }
        socket.destroy();
        return;
      }
      if (code >> 16 !== 3) {
        stream.end(fatal('08P01', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`));
        return;
      }
      params = p;
      minor = code & 0xffff;
      break;
    }

    const unsupported = Object.keys(params).filter((k) => k.startsWith('_pq_.'));
    const forwarded = Object.fromEntries(Object.entries(params).filter(([k]) => !k.startsWith('_pq_.')));
    const greeting: Buffer[] =
      minor > 0 || unsupported.length > 0 ? [negotiateProtocolVersion(0, unsupported)] : [];
    if (!forwarded.user) {
      stream.end(
        Buffer.concat([...greeting, fatal('28000', 'no PostgreSQL user name specified in startup packet')]),
      );
      return;
    }
    if (
      forwarded.replication !== undefined &&
      forwarded.replication !== 'false' &&
      forwarded.replication !== '0'
    ) {
      stream.end(fatal('0A000', 'the airmirror endpoint does not serve replication connections'));
      return;
    }
    if (greeting.length > 0) stream.write(Buffer.concat(greeting));

    let asked: Promise<string> | undefined;
    const password = () =>
      (asked ??= (async () => {
        if (!loopback && !secure) {
          throw new PgError(
            '28000',
            'the airmirror endpoint takes passwords from other hosts only over SSL',
            {
              hint: secureContext
                ? 'Connect with sslmode=require.'
                : 'Set AIRMIRROR_PG_TLS_CERT and AIRMIRROR_PG_TLS_KEY, then connect with sslmode=require.',
            },
          );
        }
        stream.write(authenticationCleartextPassword());
        const msg = await reader.typed();
        if (msg[0] !== T.password) throw new PgError('08P01', 'expected a password message');
        return msg.toString('utf8', 5, msg.length - 1);
      })());

    let upstream;
    try {
      upstream = await connectUpstream(target, forwarded, password);
    } catch (err) {
      if (err instanceof UpstreamStartupError && err.frame) stream.end(err.frame);
      else if (err instanceof PgError) stream.end(errorResponse({ ...err.fields(), severity: 'FATAL' }));
      else {
        opts.log?.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'pg endpoint: Postgres unreachable',
        );
        stream.end(fatal('08006', 'the airmirror endpoint could not reach Postgres'));
      }
      return;
    }
    if (!upstream.passwordAsked && !loopback) {
      upstream.socket.destroy();
      stream.end(
        fatal(
          '28000',
          'Postgres admitted this connection without a password (trust); the airmirror endpoint does not pass that on to other hosts',
          'Require a password for connections from the endpoint (pg_hba.conf), or connect from this host.',
        ),
      );
      return;
    }

    let secret = randomInt(1, 2 ** 31 - 1);
    while (live.get(upstream.pid)?.secret === secret) secret = randomInt(1, 2 ** 31 - 1);
    const database = forwarded.database ?? forwarded.user;
    // The endpoint reads and writes SQL text as UTF-8: sessions in another client encoding only relay.
    const utf8 = upstream.frames.some(
      (f) => f[0] === T.parameterStatus && /client_encoding\0(UTF8|SQL_ASCII)\0/i.test(f.toString('latin1')),
    );
    const relay = new Relay(stream, upstream.socket);
    const session = new Session({
      relay,
      catalog: database === target.database && utf8 ? catalog : undefined,
      deps,
      log: opts.log,
      onClose: () => {
        if (live.get(upstream.pid)?.session === session) live.delete(upstream.pid);
      },
    });
    live.set(upstream.pid, {
      session,
      relay,
      secret,
      upstreamPid: upstream.pid,
      upstreamSecret: upstream.secret,
    });
    stream.write(
      Buffer.concat([
        authenticationOk(),
        ...upstream.frames,
        backendKeyData(upstream.pid, secret),
        readyForQuery(0x49),
      ]),
    );
    relay.start(session, reader.release(), upstream.leftover);
  }

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(), opts.startupTimeoutMs ?? 30_000);
    handshake(socket)
      .catch((err: unknown) => {
        opts.log?.debug(
          { err: err instanceof Error ? err.message : String(err) },
          'pg endpoint: start-up failed',
        );
        socket.destroy();
      })
      .finally(() => clearTimeout(timer));
  });

  const port = await listen(server, opts.host, opts.port, opts.fallbackToFreePort ?? false, opts.log);
  return {
    port,
    sessions: () => live.size,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        for (const l of live.values()) l.relay.close();
      });
    },
  };
}

function listen(
  server: net.Server,
  host: string,
  port: number,
  fallback: boolean,
  log?: Logger,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' && fallback && port !== 0) {
        log?.warn({ port }, 'pg endpoint: port taken; listening on a free one instead');
        server.listen(0, host);
        return;
      }
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    };
    server.on('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
