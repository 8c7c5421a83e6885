import { describe, expect, it } from 'vitest';
import { nodeIncomingOf, readBodyLimited, type NodeIncoming } from '../../src/http/body.ts';

/** A Node-like request body that yields `chunks`, and counts whether it was read. */
function incoming(chunks: Uint8Array[]): NodeIncoming & { read: boolean } {
  return {
    read: false,
    readableEnded: false,
    readableFlowing: null,
    async *[Symbol.asyncIterator]() {
      this.read = true;
      yield* chunks;
    },
  };
}

/** A request whose web body must not be touched (building it is the cost the Node path avoids). */
function requestWithoutWebBody(headers: Record<string, string>): Request {
  return {
    headers: new Headers(headers),
    get body(): never {
      throw new Error('the web body was read');
    },
  } as unknown as Request;
}

const bytes = (s: string) => new TextEncoder().encode(s);

describe('readBodyLimited', () => {
  it('reads a body of declared length straight from the Node request, chunks joined in order', async () => {
    const text = '{"fields":{"Name":"Zoë 🎉"}}';
    const all = bytes(text);
    // Split inside a multi-byte character: the bytes must come out exactly as sent.
    const body = incoming([all.slice(0, 21), all.slice(21, 23), all.slice(23)]);
    const got = await readBodyLimited(
      requestWithoutWebBody({ 'content-length': String(all.byteLength) }),
      1_000,
      body,
    );
    expect(body.read).toBe(true);
    expect(new TextDecoder().decode(got!)).toBe(text);
  });

  it('refuses a declared length over the limit before reading anything', async () => {
    const body = incoming([bytes('x'.repeat(50))]);
    await expect(
      readBodyLimited(requestWithoutWebBody({ 'content-length': '50' }), 10, body),
    ).rejects.toMatchObject({ status: 413 });
    expect(body.read).toBe(false);
  });

  it('never returns more than the declared length from the Node request', async () => {
    const body = incoming([bytes('12345'), bytes('678')]);
    await expect(
      readBodyLimited(requestWithoutWebBody({ 'content-length': '5' }), 1_000, body),
    ).rejects.toMatchObject({ status: 413 });
  });

  it('reads a chunked body (no declared length) from the Node request too, with its running limit', async () => {
    const chunked = { 'transfer-encoding': 'chunked' };
    const small = incoming([bytes('ab'), bytes('cd')]);
    expect(
      new TextDecoder().decode((await readBodyLimited(requestWithoutWebBody(chunked), 10, small))!),
    ).toBe('abcd');
    // Past the limit it stops at the chunk that crossed it: the rest is never asked for.
    let pulled = 0;
    const endless: NodeIncoming = {
      readableEnded: false,
      readableFlowing: null,
      async *[Symbol.asyncIterator]() {
        for (;;) {
          pulled++;
          yield bytes('0123456789');
        }
      },
    };
    await expect(readBodyLimited(requestWithoutWebBody(chunked), 25, endless)).rejects.toMatchObject({
      status: 413,
    });
    expect(pulled).toBe(3);
  });

  it('stops reading a Node request past the limit without destroying it, so the 413 can be sent', async () => {
    const asked: unknown[] = [];
    const body = incoming([bytes('x'.repeat(8)), bytes('x'.repeat(8))]);
    const node: NodeIncoming = {
      ...body,
      iterator(opts) {
        asked.push(opts);
        return body[Symbol.asyncIterator]() as AsyncIterableIterator<Uint8Array>;
      },
    };
    await expect(
      readBodyLimited(requestWithoutWebBody({ 'transfer-encoding': 'chunked' }), 10, node),
    ).rejects.toMatchObject({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(asked).toEqual([{ destroyOnReturn: false }]);
  });

  it('reads the web stream where there is no Node request (Workers), with the same running limit', async () => {
    const stream = (parts: string[]) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (const p of parts) c.enqueue(bytes(p));
          c.close();
        },
      });
    const ok = new Request('http://proxy.test/x', {
      method: 'POST',
      body: stream(['ab', 'cd']),
      duplex: 'half',
    } as RequestInit);
    expect(new TextDecoder().decode((await readBodyLimited(ok, 10))!)).toBe('abcd');
    const big = new Request('http://proxy.test/x', {
      method: 'POST',
      body: stream(['abcdef', 'ghijkl']),
      duplex: 'half',
    } as RequestInit);
    await expect(readBodyLimited(big, 10)).rejects.toMatchObject({ status: 413 });
  });
});

describe('nodeIncomingOf', () => {
  it('takes a Node request whose body is unread, and nothing else', () => {
    const fresh = incoming([]);
    expect(nodeIncomingOf({ incoming: fresh })).toBe(fresh);
    expect(nodeIncomingOf({ incoming: { ...fresh, readableEnded: true } })).toBeUndefined();
    // Something (a web Request built over it) is already consuming it.
    expect(nodeIncomingOf({ incoming: { ...fresh, readableFlowing: true } })).toBeUndefined();
    expect(nodeIncomingOf({ incoming: { ...fresh, readableFlowing: false } })).toBeUndefined();
    expect(nodeIncomingOf({ incoming: { url: '/x' } })).toBeUndefined();
    expect(nodeIncomingOf(undefined)).toBeUndefined();
    expect(nodeIncomingOf({})).toBeUndefined();
  });
});
