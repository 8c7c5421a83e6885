import { describe, expect, it } from 'vitest';
import {
  bindMessage,
  commandComplete,
  dropFirstColumn,
  dropFirstField,
  FrameReader,
  parseText,
  readBind,
  readParse,
  readDataRow,
  readNoticeFields,
  serialize,
  errorResponse,
} from '../../../proxy/pg/protocol.ts';

function frames(chunks: Buffer[]): Array<{ type: string; body: Buffer }> {
  const r = new FrameReader();
  const out: Array<{ type: string; body: Buffer }> = [];
  for (const c of chunks) {
    r.push(c, (type, data, start, end) =>
      out.push({ type: String.fromCharCode(type), body: Buffer.from(data.subarray(start, end)) }),
    );
  }
  return out;
}

describe('FrameReader', () => {
  const msgs = [
    serialize.query('SELECT 1'),
    commandComplete('SELECT 1'),
    serialize.sync(),
    serialize.query('x'.repeat(100_000)),
  ];
  const all = Buffer.concat(msgs);

  it('splits a stream into messages however it is cut', () => {
    for (const cut of [1, 2, 3, 5, 7, 64, 1000, 65536, all.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < all.length; i += cut) chunks.push(all.subarray(i, i + cut));
      const got = frames(chunks);
      expect(got.map((f) => f.type)).toEqual(['Q', 'C', 'S', 'Q']);
      // Buffer.equals: a deep toEqual walks 100 KB byte by byte.
      expect(got.map((f, i) => f.body.equals(msgs[i]))).toEqual([true, true, true, true]);
    }
  });

  it('hands out views of whole chunks, so a run of messages can be written back without copying', () => {
    const r = new FrameReader();
    const seen: Buffer[] = [];
    r.push(all, (_t, data) => seen.push(data));
    expect(seen.every((d) => d === all)).toBe(true);
  });
});

describe('messages', () => {
  it('Bind with raw parameters and per-column result formats reads back', () => {
    const b = {
      portal: 'p',
      statement: 's',
      paramFormats: [0, 1],
      params: [Buffer.from('abc'), null, Buffer.from([0, 0, 0, 7])],
      resultFormats: [0, 1, 1],
    };
    expect(readBind(bindMessage(b))).toEqual(b);
  });

  it('the text of a Parse, read in place inside a chunk; undefined for a frame cut short', () => {
    const parse = serialize.parse({ name: 'st1', text: 'UPDATE customers SET notes = $1', types: [25] });
    const chunk = Buffer.concat([serialize.sync(), parse, serialize.query('SELECT 1')]);
    const start = serialize.sync().length;
    const end = start + parse.length;
    expect(parseText(chunk, start, end)).toBe('UPDATE customers SET notes = $1');
    expect(parseText(chunk, start, end)).toBe(readParse(parse).text);
    const unnamed = serialize.parse({ text: 'SELECT 1', types: [] });
    expect(parseText(unnamed, 0, unnamed.length)).toBe('SELECT 1');
    // A frame whose name or text has no terminator inside it: nothing read past its end.
    expect(parseText(chunk, start, start + 9)).toBeUndefined();
    expect(parseText(chunk, start, start + 12)).toBeUndefined();
  });

  it('RowDescription and DataRow without their first column', () => {
    // A RowDescription of (id text, n int4) and a row ('recA', NULL … ) built by hand.
    const field = (name: string, type: number) => {
      const b = Buffer.alloc(name.length + 1 + 18);
      b.write(name);
      b.writeInt32BE(type, name.length + 1 + 6);
      return b;
    };
    const body = Buffer.concat([Buffer.from([0, 2]), field('id', 25), field('n', 23)]);
    const head = Buffer.alloc(5);
    head[0] = 0x54;
    head.writeInt32BE(body.length + 4, 1);
    const rd = dropFirstField(Buffer.concat([head, body]));
    expect(rd.readInt16BE(5)).toBe(1);
    expect(rd.subarray(7, 8).toString()).toBe('n');
    expect(rd.length).toBe(5 + 2 + field('n', 23).length);

    const cols = Buffer.concat([
      Buffer.from([0, 2]),
      Buffer.from([0, 0, 0, 4]),
      Buffer.from('recA'),
      Buffer.from([255, 255, 255, 255]),
    ]);
    const dh = Buffer.alloc(5);
    dh[0] = 0x44;
    dh.writeInt32BE(cols.length + 4, 1);
    const row = Buffer.concat([dh, cols]);
    expect(readDataRow(row)).toEqual([Buffer.from('recA'), null]);
    expect(readDataRow(dropFirstColumn(row))).toEqual([null]);
  });

  it('ErrorResponse fields', () => {
    const e = errorResponse({
      severity: 'ERROR',
      code: '22023',
      message: 'bad',
      detail: 'why',
      column: 'tier',
    });
    expect(readNoticeFields(e)).toMatchObject({ S: 'ERROR', C: '22023', M: 'bad', D: 'why', c: 'tier' });
  });
});
