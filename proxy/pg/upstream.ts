/**
 * The endpoint's session on the real Postgres: one connection per client, opened with the
 * client's own start-up parameters (user, database, application_name, options …) and, when
 * Postgres asks for one, the client's own password — so Postgres authenticates the client and its
 * privileges decide what the session may do. The password answers whatever Postgres asks
 * (SCRAM-SHA-256, md5 or cleartext) with node-postgres' own implementations.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { Writer } from 'pg-protocol/dist/buffer-writer.js';
import { parse as parseConnectionString } from 'pg-connection-string';
import sasl from 'pg/lib/crypto/sasl.js';
import cryptoUtils from 'pg/lib/crypto/utils.js';
import { readNoticeFields, serialize, T } from './protocol.ts';
import { SocketReader } from './socket-reader.ts';

export interface UpstreamTarget {
  host: string;
  port: number;
  /** A Unix-domain socket path instead of host/port (a `host=/dir` URL). */
  socketPath?: string;
  /** `false`: plain; `prefer`: TLS when offered; otherwise TLS required with these options. */
  ssl: false | 'prefer' | tls.ConnectionOptions;
  /** The database of airmirror's own connection: only sessions on it have mirror tables. */
  database: string;
}

/** Where the endpoint's sessions go: the address, TLS settings and database of DATABASE_URL. */
export function upstreamTarget(databaseUrl: string): UpstreamTarget {
  const c = parseConnectionString(databaseUrl);
  const host = c.host ?? '127.0.0.1';
  const port = Number(c.port ?? 5432);
  const sslmode = (c as { sslmode?: string }).sslmode;
  let ssl: UpstreamTarget['ssl'] = false;
  if (sslmode === 'prefer') ssl = 'prefer';
  else if (c.ssl) ssl = typeof c.ssl === 'object' ? (c.ssl as tls.ConnectionOptions) : {};
  return {
    host,
    port,
    socketPath: host.startsWith('/') ? `${host}/.s.PGSQL.${port}` : undefined,
    ssl,
    database: c.database ?? c.user ?? 'postgres',
  };
}

/** Postgres refused the session (or the connection failed): the ErrorResponse to pass on, if any. */
export class UpstreamStartupError extends Error {
  constructor(
    message: string,
    /** Postgres' own ErrorResponse frame, relayed to the client as it is. */
    readonly frame?: Buffer,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = 'UpstreamStartupError';
  }
}

export interface Upstream {
  socket: Duplex;
  /** The backend's process id and secret key (for cancel requests). */
  pid: number;
  secret: number;
  /** ParameterStatus and NoticeResponse frames of the start-up, in order, to relay to the client. */
  frames: Buffer[];
  /** Whether Postgres asked for a password at all (trust does not). */
  passwordAsked: boolean;
  /** Bytes that arrived after ReadyForQuery. */
  leftover: Buffer;
}

function startupMessage(params: Record<string, string>): Buffer {
  const w = new Writer();
  w.addInt16(3).addInt16(0);
  for (const [k, v] of Object.entries(params)) w.addCString(k).addCString(v);
  const body = w.addCString('').flush();
  return new Writer()
    .addInt32(body.length + 4)
    .add(body)
    .flush();
}

function connectSocket(target: UpstreamTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = target.socketPath
      ? net.connect({ path: target.socketPath })
      : net.connect({ host: target.host, port: target.port });
    s.setNoDelay(true);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function startTls(socket: net.Socket, target: UpstreamTarget): Promise<tls.TLSSocket> {
  const opts = target.ssl === 'prefer' ? { rejectUnauthorized: false } : target.ssl || {};
  const servername = net.isIP(target.host) ? undefined : target.host;
  return new Promise((resolve, reject) => {
    const s = tls.connect({ ...opts, socket, servername });
    s.once('secureConnect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function authCode(frame: Buffer): number {
  return frame.readInt32BE(5);
}

/**
 * Opens the client's session: TLS as DATABASE_URL says, the start-up message, authentication
 * (asking `password()` only if Postgres wants one), up to the first ReadyForQuery.
 */
export async function connectUpstream(
  target: UpstreamTarget,
  params: Record<string, string>,
  password: () => Promise<string>,
): Promise<Upstream> {
  let socket: Duplex = await connectSocket(target);
  try {
    if (target.ssl) {
      socket.write(serialize.requestSsl());
      const r = new SocketReader(socket);
      const answer = await r.byte();
      r.release();
      if (answer === 0x53) socket = await startTls(socket as net.Socket, target);
      else if (target.ssl !== 'prefer') throw new UpstreamStartupError('Postgres refused TLS');
    }
    socket.write(startupMessage(params));
    const reader = new SocketReader(socket);
    const frames: Buffer[] = [];
    let passwordAsked = false;
    let session: ReturnType<typeof sasl.startSession> | undefined;
    let pid = 0;
    let secret = 0;
    for (;;) {
      const frame = await reader.typed();
      const type = frame[0];
      if (type === T.error) {
        const fields = readNoticeFields(frame);
        throw new UpstreamStartupError(fields.M ?? 'Postgres refused the connection', frame, fields);
      }
      if (type === T.authentication) {
        const code = authCode(frame);
        if (code === 0) continue; // AuthenticationOk
        passwordAsked = true;
        if (code === 3) {
          socket.write(serialize.password(await password()));
        } else if (code === 5) {
          const salt = frame.subarray(9, 13);
          const user = params.user;
          socket.write(
            serialize.password(await cryptoUtils.postgresMd5PasswordHash(user, await password(), salt)),
          );
        } else if (code === 10) {
          const mechanisms = frame
            .subarray(9)
            .toString('utf8')
            .split('\0')
            .filter((m) => m !== '');
          // Channel binding needs the TLS connection to Postgres itself, when there is one.
          session = sasl.startSession(mechanisms, socket instanceof tls.TLSSocket ? socket : undefined);
          socket.write(serialize.sendSASLInitialResponseMessage(session.mechanism, session.response));
        } else if (code === 11) {
          if (!session) throw new UpstreamStartupError('SASL continue before SASL start');
          await sasl.continueSession(
            session,
            await password(),
            frame.subarray(9).toString('utf8'),
            socket instanceof tls.TLSSocket ? socket : undefined,
          );
          socket.write(serialize.sendSCRAMClientFinalMessage(session.response));
        } else if (code === 12) {
          if (!session) throw new UpstreamStartupError('SASL final before SASL start');
          sasl.finalizeSession(session, frame.subarray(9).toString('utf8'));
        } else {
          throw new UpstreamStartupError(
            `Postgres asked for an authentication method the endpoint cannot pass on (${code})`,
          );
        }
        continue;
      }
      if (type === T.backendKeyData) {
        pid = frame.readInt32BE(5);
        secret = frame.readInt32BE(9);
        continue;
      }
      if (type === T.parameterStatus || type === T.notice) {
        frames.push(frame);
        continue;
      }
      if (type === T.ready) {
        return { socket, pid, secret, frames, passwordAsked, leftover: reader.release() };
      }
      // NegotiateProtocolVersion or anything else of the start-up: nothing the client needs.
    }
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Sends a CancelRequest for the backend `pid`/`secret` on a connection of its own. */
export async function cancelUpstream(target: UpstreamTarget, pid: number, secret: number): Promise<void> {
  let socket: Duplex = await connectSocket(target);
  try {
    if (target.ssl) {
      socket.write(serialize.requestSsl());
      const r = new SocketReader(socket);
      const answer = await r.byte();
      r.release();
      if (answer === 0x53) socket = await startTls(socket as net.Socket, target);
    }
    socket.end(serialize.cancel(pid, secret));
  } catch {
    socket.destroy();
  }
}
