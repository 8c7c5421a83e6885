/**
 * The few pieces of the Postgres wire protocol (v3) the endpoint needs beyond what it relays as
 * bytes: message boundaries, the fields of the frontend messages it inspects (Query, Parse, Bind,
 * Execute, Describe, Close), and the backend messages it answers with itself. Reading and writing
 * go through node-postgres' own pg-protocol (BufferReader, Writer, serialize); nothing is
 * re-encoded that is passed through.
 */
import { BufferReader } from 'pg-protocol/dist/buffer-reader.js';
import { Writer } from 'pg-protocol/dist/buffer-writer.js';

export { serialize } from 'pg-protocol';

/** Message type bytes as char codes. */
export const T = {
  query: 0x51, // Q
  parse: 0x50, // P
  bind: 0x42, // B
  execute: 0x45, // E (frontend) — ErrorResponse shares the byte on the backend side
  describe: 0x44, // D (frontend) — DataRow on the backend side
  close: 0x43, // C (frontend) — CommandComplete on the backend side
  sync: 0x53, // S (frontend) — ParameterStatus on the backend side
  flush: 0x48, // H (frontend) — CopyOutResponse on the backend side
  functionCall: 0x46, // F
  terminate: 0x58, // X
  password: 0x70, // p
  copyData: 0x64, // d
  copyDone: 0x63, // c
  copyFail: 0x66, // f
  // backend
  error: 0x45, // E
  notice: 0x4e, // N
  notification: 0x41, // A
  parameterStatus: 0x53, // S
  ready: 0x5a, // Z
  rowDescription: 0x54, // T
  dataRow: 0x44, // D
  commandComplete: 0x43, // C
  emptyQuery: 0x49, // I
  parseComplete: 0x31, // 1
  bindComplete: 0x32, // 2
  closeComplete: 0x33, // 3
  noData: 0x6e, // n
  parameterDescription: 0x74, // t
  portalSuspended: 0x73, // s
  backendKeyData: 0x4b, // K
  authentication: 0x52, // R
  copyInResponse: 0x47, // G
  copyOutResponse: 0x48, // H
  copyBothResponse: 0x57, // W
  functionCallResponse: 0x56, // V
  negotiateProtocol: 0x76, // v
} as const;

/** Receives complete frames; `data.subarray(start, end)` is the whole message, type byte included. */
export type FrameHandler = (type: number, data: Buffer, start: number, end: number) => void;

/**
 * Splits a byte stream into typed messages (1 type byte + int32 length). Whole chunks are handed
 * on as they came — frames are views into them — so a relay can write runs of frames back out
 * without copying. A frame split across chunks is gathered once, without re-concatenating the
 * pieces for every chunk that arrives.
 */
export class FrameReader {
  private pieces: Buffer[] = [];
  private have = 0;
  /** Total size of the frame being gathered, once its header is known; 0 otherwise. */
  private need = 0;

  push(chunk: Buffer, onFrame: FrameHandler, onChunkEnd?: () => void): void {
    let data = chunk;
    if (this.have > 0) {
      this.pieces.push(chunk);
      this.have += chunk.length;
      if (this.need === 0 && this.have >= 5) {
        const head = Buffer.concat(this.pieces);
        this.pieces = [head];
        this.need = 1 + head.readUInt32BE(1);
      }
      if (this.need === 0 || this.have < this.need) return;
      data = Buffer.concat(this.pieces, this.have);
      this.pieces = [];
      this.have = 0;
      this.need = 0;
    }
    let at = 0;
    while (data.length - at >= 5) {
      const end = at + 1 + data.readUInt32BE(at + 1);
      if (end > data.length) break;
      onFrame(data[at], data, at, end);
      at = end;
    }
    onChunkEnd?.();
    if (at < data.length) {
      const rest = data.subarray(at);
      this.pieces = [rest];
      this.have = rest.length;
      this.need = rest.length >= 5 ? 1 + rest.readUInt32BE(1) : 0;
    }
  }
}

function reader(frame: Buffer): BufferReader {
  const r = new BufferReader();
  r.setBuffer(5, frame);
  return r;
}

/** Query: the SQL text. */
export function readQuery(frame: Buffer): string {
  return reader(frame).cstring();
}

export interface ParseMessage {
  name: string;
  text: string;
  types: number[];
}

export function readParse(frame: Buffer): ParseMessage {
  const r = reader(frame);
  const name = r.cstring();
  const text = r.cstring();
  const n = r.int16();
  const types: number[] = [];
  for (let i = 0; i < n; i++) types.push(r.uint32());
  return { name, text, types };
}

/** The SQL text of a Parse frame (`data.subarray(start, end)`), read without the rest of it. */
export function parseText(data: Buffer, start: number, end: number): string | undefined {
  const nameEnd = data.indexOf(0, start + 5);
  if (nameEnd < 0 || nameEnd >= end) return undefined;
  const textEnd = data.indexOf(0, nameEnd + 1);
  return textEnd > nameEnd && textEnd < end ? data.toString('utf8', nameEnd + 1, textEnd) : undefined;
}

export interface BindMessage {
  portal: string;
  statement: string;
  paramFormats: number[];
  /** Raw parameter bytes in their formats; null = SQL NULL. */
  params: (Buffer | null)[];
  resultFormats: number[];
}

export function readBind(frame: Buffer): BindMessage {
  const r = reader(frame);
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats: number[] = [];
  for (let i = 0, n = r.int16(); i < n; i++) paramFormats.push(r.int16());
  const params: (Buffer | null)[] = [];
  for (let i = 0, n = r.int16(); i < n; i++) {
    const len = r.int32();
    params.push(len < 0 ? null : Buffer.from(r.bytes(len)));
  }
  const resultFormats: number[] = [];
  for (let i = 0, n = r.int16(); i < n; i++) resultFormats.push(r.int16());
  return { portal, statement, paramFormats, params, resultFormats };
}

export function readExecute(frame: Buffer): { portal: string; maxRows: number } {
  const r = reader(frame);
  return { portal: r.cstring(), maxRows: r.int32() };
}

/** Describe or Close: 'S' (statement) or 'P' (portal), and the name. */
export function readTarget(frame: Buffer): { kind: 'S' | 'P'; name: string } {
  const r = reader(frame);
  const kind = String.fromCharCode(r.byte()) as 'S' | 'P';
  return { kind, name: r.cstring() };
}

/** Bind with raw parameter bytes and per-column result formats (pg-protocol's bind takes neither). */
export function bindMessage(b: Omit<BindMessage, 'resultFormats'> & { resultFormats: number[] }): Buffer {
  const w = new Writer();
  w.addCString(b.portal).addCString(b.statement);
  w.addInt16(b.paramFormats.length);
  for (const f of b.paramFormats) w.addInt16(f);
  w.addInt16(b.params.length);
  for (const p of b.params) {
    if (p === null) w.addInt32(-1);
    else w.addInt32(p.length).add(p);
  }
  w.addInt16(b.resultFormats.length);
  for (const f of b.resultFormats) w.addInt16(f);
  return w.flush(T.bind);
}

/** ErrorResponse / NoticeResponse fields (https://www.postgresql.org/docs/current/protocol-error-fields.html). */
export interface PgNoticeFields {
  severity: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE' | 'INFO';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
}

function noticeBody(f: PgNoticeFields, type: number): Buffer {
  const w = new Writer();
  const put = (key: string, v: string | undefined) => {
    if (v !== undefined) w.addString(key).addCString(v);
  };
  put('S', f.severity);
  put('V', f.severity);
  put('C', f.code);
  put('M', f.message);
  put('D', f.detail);
  put('H', f.hint);
  put('s', f.schema);
  put('t', f.table);
  put('c', f.column);
  put('d', f.dataType);
  w.addCString('');
  return w.flush(type);
}

export const errorResponse = (f: PgNoticeFields) => noticeBody(f, T.error);
export const noticeResponse = (f: PgNoticeFields) => noticeBody(f, T.notice);

/** The fields of an ErrorResponse/NoticeResponse frame, by their one-letter codes. */
export function readNoticeFields(frame: Buffer): Record<string, string> {
  const r = reader(frame);
  const out: Record<string, string> = {};
  for (;;) {
    const code = r.byte();
    if (code === 0) return out;
    out[String.fromCharCode(code)] = r.cstring();
  }
}

export function commandComplete(tag: string): Buffer {
  return new Writer().addCString(tag).flush(T.commandComplete);
}

export function readCommandTag(frame: Buffer): string {
  return reader(frame).cstring();
}

export function readyForQuery(status: number): Buffer {
  const w = new Writer();
  w.add(Buffer.from([status]));
  return w.flush(T.ready);
}

export const portalSuspended = (): Buffer => new Writer().flush(T.portalSuspended);
export const authenticationOk = (): Buffer => new Writer().addInt32(0).flush(T.authentication);
export const authenticationCleartextPassword = (): Buffer => new Writer().addInt32(3).flush(T.authentication);

export function backendKeyData(pid: number, secret: number): Buffer {
  return new Writer().addInt32(pid).addInt32(secret).flush(T.backendKeyData);
}

/** NegotiateProtocolVersion: the newest minor version we speak (3.0) and the options we ignored. */
export function negotiateProtocolVersion(minor: number, unsupported: string[]): Buffer {
  const w = new Writer().addInt32(minor).addInt32(unsupported.length);
  for (const o of unsupported) w.addCString(o);
  return w.flush(T.negotiateProtocol);
}

/** The parameter type OIDs of a ParameterDescription. */
export function readParameterDescription(frame: Buffer): number[] {
  const r = reader(frame);
  const out: number[] = [];
  for (let i = 0, n = r.int16(); i < n; i++) out.push(r.uint32());
  return out;
}

/** A RowDescription without its first field (the row id the endpoint reads for itself). */
export function dropFirstField(frame: Buffer): Buffer {
  const n = frame.readInt16BE(5);
  let at = 7;
  while (frame[at] !== 0) at++;
  at += 1 + 18; // name's NUL, then table oid, attnum, type oid, typlen, typmod, format
  const w = new Writer().addInt16(n - 1);
  w.add(frame.subarray(at));
  return w.flush(T.rowDescription);
}

/** The columns of a DataRow: raw bytes in their formats, null for SQL NULL. */
export function readDataRow(frame: Buffer): (Buffer | null)[] {
  const out: (Buffer | null)[] = [];
  const n = frame.readInt16BE(5);
  let at = 7;
  for (let i = 0; i < n; i++) {
    const len = frame.readInt32BE(at);
    at += 4;
    if (len < 0) out.push(null);
    else {
      out.push(frame.subarray(at, at + len));
      at += len;
    }
  }
  return out;
}

/** A DataRow without its first column. */
export function dropFirstColumn(frame: Buffer): Buffer {
  const len = frame.readInt32BE(7);
  const rest = frame.subarray(7 + 4 + Math.max(0, len));
  const w = new Writer().addInt16(frame.readInt16BE(5) - 1);
  w.add(rest);
  return w.flush(T.dataRow);
}

/** One length-prefixed startup-phase packet (no type byte): SSLRequest, StartupMessage, CancelRequest. */
export function readStartupPacket(packet: Buffer): { code: number; params: Record<string, string> } {
  const code = packet.readInt32BE(4);
  const params: Record<string, string> = {};
  if (code >> 16 === 3) {
    const r = new BufferReader();
    r.setBuffer(8, packet);
    for (;;) {
      const key = r.cstring();
      if (key === '') break;
      params[key] = r.cstring();
    }
  }
  return { code, params };
}

export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
