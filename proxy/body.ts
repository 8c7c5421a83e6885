import { bodyTooLarge } from './errors.ts';

/**
 * The Node request as received (`env.incoming` under @hono/node-server): only what reading its
 * body needs, so the proxy core stays runtime-neutral.
 */
export interface NodeIncoming extends AsyncIterable<Uint8Array> {
  readonly readableEnded: boolean;
  /** null until something consumes the stream (e.g. a web Request built over it). */
  readonly readableFlowing: boolean | null;
}

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
 * Reads a request body, refusing it as soon as it passes `limit` bytes (a declared
 * content-length over the limit is refused before reading anything).
 *
 * With `incoming` (Node) and a declared length, the body is read straight from the Node request:
 * the web Request and stream that `req.body` would build for it cost about as much as the rest
 * of the forwarding. Node's HTTP parser ends such a body at its declared length, so it cannot
 * outgrow the limit checked above. Chunked bodies take the web stream, with its running count.
 */
export async function readBodyLimited(
  req: Request,
  limit: number,
  incoming?: NodeIncoming,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw bodyTooLarge(limit);
  if (incoming && Number.isSafeInteger(declared) && declared >= 0 && !req.headers.has('transfer-encoding')) {
    return readDeclared(incoming, declared, limit);
  }
  if (!req.body) return null;
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw bodyTooLarge(limit);
    }
    chunks.push(value);
  }
  return concat(chunks, size);
}

async function readDeclared(
  incoming: NodeIncoming,
  declared: number,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of incoming) {
    size += chunk.byteLength;
    // Not expected (the parser stops at the declared length); kept so no path can exceed it.
    if (size > declared || size > limit) throw bodyTooLarge(limit);
    chunks.push(chunk);
  }
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
