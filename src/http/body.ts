import { AirmirrorError } from '../errors.ts';

/**
 * The one request-body reader of every route (proxy, management API, webhook pings): it refuses a
 * body as soon as it passes its limit, while reading, so no request can make the process hold
 * more than the limit, whatever it declares or streams.
 */

/**
 * The Node request as received (`env.incoming` under @hono/node-server): only what reading its
 * body needs, so the callers stay runtime-neutral.
 */
export interface NodeIncoming extends AsyncIterable<Uint8Array> {
  readonly readableEnded: boolean;
  /** null until something consumes the stream (e.g. a web Request built over it). */
  readonly readableFlowing: boolean | null;
  /** Node's readable iterator; `destroyOnReturn: false` leaves the socket open when we stop early. */
  iterator?(opts: { destroyOnReturn: boolean }): AsyncIterableIterator<Uint8Array>;
}

/** The refusal when a body passes its limit; each surface may shape it its own way (the proxy like Airtable). */
export type TooLarge = (limit: number) => Error;

export const bodyTooLarge: TooLarge = (limit) =>
  new AirmirrorError('REQUEST_TOO_LARGE', 413, `Request body exceeds the limit of ${limit} bytes`);

/**
 * The client went away before its body arrived (nginx's 499): nobody is left to answer, and it is
 * not a failure of ours, so no surface logs it as one (they log 5xx only).
 */
export const clientClosed = (cause: unknown) =>
  new AirmirrorError(
    'CLIENT_CLOSED_REQUEST',
    499,
    'The client closed the connection before its request arrived',
    {
      cause,
    },
  );

/**
 * `env.incoming` when it is a Node request whose body nobody has started to read (no web
 * Request was built over it, which would consume it too), else undefined.
 */
export function nodeIncomingOf(env: unknown): NodeIncoming | undefined {
  const incoming = (env as { incoming?: Partial<NodeIncoming> } | undefined)?.incoming;
  return incoming &&
    typeof incoming[Symbol.asyncIterator] === 'function' &&
    incoming.readableEnded === false &&
    incoming.readableFlowing === null
    ? (incoming as NodeIncoming)
    : undefined;
}

/**
 * Reads a request body, refusing it as soon as it passes `limit` bytes; a declared
 * content-length over the limit is refused before reading anything.
 *
 * With `incoming` (Node) the body is read straight from the Node request, declared or chunked:
 * the web Request and stream that `req.body` would build for it cost about as much as the rest of
 * the proxy's forwarding. Past the limit it stops reading without destroying the request, so the
 * 413 still reaches the client; the caller's answer closes the connection (`connection: close`,
 * src/http/guard.ts), which drops whatever the client still sends, unread. Elsewhere (Workers,
 * a body already turned into a web stream) the web stream is read, with the same running count.
 */
export async function readBodyLimited(
  req: Request,
  limit: number,
  incoming?: NodeIncoming,
  tooLarge: TooLarge = bodyTooLarge,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  if (incoming) {
    const cap = Number.isSafeInteger(declared) && declared >= 0 && !req.headers.has('transfer-encoding');
    return readNode(incoming, cap ? declared : limit, limit, tooLarge);
  }
  if (!req.body) return null;
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read().catch((err: unknown) => {
      throw clientClosed(err);
    });
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return concat(chunks, size);
}

async function readNode(
  incoming: NodeIncoming,
  declared: number,
  limit: number,
  tooLarge: TooLarge,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const body = incoming.iterator ? incoming.iterator({ destroyOnReturn: false }) : incoming;
  let over = false;
  try {
    for await (const chunk of body) {
      size += chunk.byteLength;
      // Node's parser ends a declared body at its length; the check keeps any path from exceeding it.
      if (size > declared || size > limit) {
        over = true;
        break;
      }
      chunks.push(chunk);
    }
  } catch (err) {
    // The only way reading a request fails: the connection ended mid-body ('aborted', ECONNRESET).
    throw clientClosed(err);
  }
  if (over) throw tooLarge(limit);
  return concat(chunks, size);
}

function concat(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
