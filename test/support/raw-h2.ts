/**
 * A bare HTTP/2 client connection over a socket, for the hostile clients of issue 11. Node 20's own
 * HTTP/2 client corrupts its heap ("corrupted size vs. prev_size", the test worker aborted) when
 * the server resets many streams it is still writing, which is what an attack is made of; this one
 * has no native state to corrupt. It also does what an attacker does and a library will not: a
 * stream that does not read grants no flow-control window, so the server's writes stay unsent.
 * Only what the hostile clients need: request streams, DATA within the peer's windows, headers
 * and trailers decoded (HPACK by hpack.js), RST_STREAM, SETTINGS, PING and GOAWAY.
 */
import net from 'node:net';
import hpack from 'hpack.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const enum Frame {
  Data = 0x0,
  Headers = 0x1,
  RstStream = 0x3,
  Settings = 0x4,
  Ping = 0x6,
  GoAway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
const DEFAULT_WINDOW = 65_535;
export const NGHTTP2_CANCEL = 8;

function frameOf(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

export type Headers = Record<string, string>;

export interface RawH2StreamEvents {
  /** The response headers, or the trailers (the second block, or a first one that ends the stream). */
  headers(headers: Headers, endStream: boolean): void;
  data(chunk: Buffer): void;
  /** The stream is over: reset by either side (its code), ended, or its connection gone (`connectionClosed`). */
  closed(rstCode: number | undefined, connectionClosed: boolean): void;
}

/** One request stream; the session moves its bytes. */
export class RawH2Stream {
  /** What the peer lets this stream send. */
  sendWindow: number;
  /** DATA received while not reading: granted to the peer once it reads. */
  private owed = 0;
  private readonly outbound: Buffer[] = [];
  rstCode: number | undefined;
  closed = false;
  connectionClosed = false;

  constructor(
    private readonly session: RawH2Session,
    readonly id: number,
    readonly path: string,
    private reading: boolean,
    private readonly events: RawH2StreamEvents,
  ) {
    this.sendWindow = session.peerInitialWindow;
  }

  write(bytes: Buffer): void {
    if (this.closed) return;
    this.outbound.push(bytes);
    this.session.flush();
  }

  /** Starts reading: the window held back is granted, so what the server still had arrives. */
  read(): void {
    this.reading = true;
    if (this.owed > 0 && !this.closed) this.session.grant(this.id, this.owed);
    this.owed = 0;
  }

  /** Resets the stream (RST_STREAM with `code`), unless it is over already. */
  reset(code = NGHTTP2_CANCEL): void {
    if (this.closed) return;
    this.session.send(frameOf(Frame.RstStream, 0, this.id, uint32(code)));
    this.end(code);
  }

  /** Sends DATA frames while both windows allow; called by the session. */
  drain(connectionWindow: number, maxFrame: number): number {
    let sent = 0;
    while (this.outbound.length > 0 && !this.closed) {
      const room = Math.min(this.sendWindow, connectionWindow - sent, maxFrame);
      if (room <= 0) break;
      const head = this.outbound[0]!;
      const piece = head.subarray(0, room);
      if (piece.length === head.length) this.outbound.shift();
      else this.outbound[0] = head.subarray(room);
      this.session.send(frameOf(Frame.Data, 0, this.id, piece));
      this.sendWindow -= piece.length;
      sent += piece.length;
    }
    return sent;
  }

  /** `flowLength`: the frame's whole payload, padding included, as flow control counts it. */
  onData(chunk: Buffer, flowLength: number, endStream: boolean): void {
    if (this.reading) this.session.grant(this.id, flowLength);
    else this.owed += flowLength;
    if (chunk.length > 0) this.events.data(chunk);
    if (endStream) this.end(undefined);
  }

  onHeaders(headers: Headers, endStream: boolean): void {
    this.events.headers(headers, endStream);
    if (endStream) this.end(undefined);
  }

  /** Over: nothing more is sent or expected. */
  end(rstCode: number | undefined, connectionClosed = false): void {
    if (this.closed) return;
    this.closed = true;
    this.rstCode = rstCode;
    this.connectionClosed = connectionClosed;
    this.outbound.length = 0;
    this.session.forget(this.id);
    this.events.closed(rstCode, connectionClosed);
  }
}

/** One HTTP/2 connection (prior knowledge, no TLS) carrying any number of request streams. */
export class RawH2Session {
  private readonly socket: net.Socket;
  private readonly streams = new Map<number, RawH2Stream>();
  private readonly encoder = hpack.compressor.create({ table: { size: 4_096 } });
  private readonly decoder = hpack.decompressor.create({ table: { size: 4_096 } });
  private nextId = 1;
  private inbound: Buffer = Buffer.alloc(0);
  private headerBlock: { streamId: number; endStream: boolean; chunks: Buffer[] } | undefined;
  private connectionWindow = DEFAULT_WINDOW;
  private maxFrame = 16_384;
  peerInitialWindow = DEFAULT_WINDOW;
  closed = false;
  /** The server sent GOAWAY: it takes no new stream on this connection. */
  private goneAway = false;

  constructor(private readonly address: string, localAddress?: string) {
    const at = address.lastIndexOf(':');
    this.socket = net.connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)), ...(localAddress ? { localAddress } : {}) });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => this.onSocketClosed());
    this.send(Buffer.concat([PREFACE, frameOf(Frame.Settings, 0, 0)]));
  }

  /** Opens a POST stream to `path` with `headers`; `reading` false holds back its window. */
  request(path: string, headers: Headers, reading: boolean, events: RawH2StreamEvents): RawH2Stream {
    const id = this.nextId;
    this.nextId += 2;
    const stream = new RawH2Stream(this, id, path, reading, events);
    const fields = Object.entries({ ':method': 'POST', ':scheme': 'http', ':authority': this.address, ':path': path, ...headers }).map(([name, value]) => ({ name, value }));
    this.encoder.write(fields);
    const block: Buffer = this.encoder.read();
    if (this.closed || this.goneAway) {
      queueMicrotask(() => stream.end(undefined, true));
      return stream;
    }
    this.streams.set(id, stream);
    this.send(frameOf(Frame.Headers, END_HEADERS, id, block));
    return stream;
  }

  /** A GOAWAY, then the socket closed: every stream still open ends, its connection closed. */
  close(): void {
    if (this.closed) return;
    this.send(frameOf(Frame.GoAway, 0, 0, Buffer.concat([uint32(0), uint32(0)])));
    this.socket.end();
    this.socket.destroy();
    this.onSocketClosed();
  }

  send(bytes: Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(bytes);
  }

  grant(streamId: number, bytes: number): void {
    if (bytes > 0) this.send(frameOf(Frame.WindowUpdate, 0, streamId, uint32(bytes)));
  }

  forget(streamId: number): void {
    this.streams.delete(streamId);
  }

  flush(): void {
    for (const stream of this.streams.values()) {
      if (this.connectionWindow <= 0) return;
      this.connectionWindow -= stream.drain(this.connectionWindow, this.maxFrame);
    }
  }

  private onSocketClosed(): void {
    this.closed = true;
    for (const stream of [...this.streams.values()]) stream.end(undefined, true);
  }

  private onBytes(chunk: Buffer): void {
    this.inbound = this.inbound.length === 0 ? chunk : Buffer.concat([this.inbound, chunk]);
    while (this.inbound.length >= 9) {
      const length = this.inbound.readUIntBE(0, 3);
      if (this.inbound.length < 9 + length) break;
      const type = this.inbound.readUInt8(3);
      const flags = this.inbound.readUInt8(4);
      const streamId = this.inbound.readUInt32BE(5) & 0x7fffffff;
      const payload = this.inbound.subarray(9, 9 + length);
      this.inbound = this.inbound.subarray(9 + length);
      this.onFrame(type, flags, streamId, payload);
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    switch (type) {
      case Frame.Data: {
        const body = flags & PADDED ? payload.subarray(1, payload.length - payload.readUInt8(0)) : payload;
        // The connection window is always given back: holding back is per stream.
        this.grant(0, payload.length);
        const stream = this.streams.get(streamId);
        if (stream) stream.onData(body, payload.length, (flags & END_STREAM) !== 0);
        return;
      }
      case Frame.Headers: {
        let block = flags & PADDED ? payload.subarray(1, payload.length - payload.readUInt8(0)) : payload;
        if (flags & PRIORITY) block = block.subarray(5); // stream dependency and weight
        this.headerBlock = { streamId, endStream: (flags & END_STREAM) !== 0, chunks: [block] };
        if (flags & END_HEADERS) this.onHeaderBlock();
        return;
      }
      case Frame.Continuation:
        this.headerBlock?.chunks.push(payload);
        if (flags & END_HEADERS) this.onHeaderBlock();
        return;
      case Frame.RstStream:
        this.streams.get(streamId)?.end(payload.readUInt32BE(0));
        return;
      case Frame.Settings:
        if (flags & ACK) return;
        for (let at = 0; at + 6 <= payload.length; at += 6) this.onSetting(payload.readUInt16BE(at), payload.readUInt32BE(at + 2));
        this.send(frameOf(Frame.Settings, ACK, 0));
        this.flush();
        return;
      case Frame.Ping:
        if (!(flags & ACK)) this.send(frameOf(Frame.Ping, ACK, 0, payload));
        return;
      case Frame.GoAway: {
        const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
        this.goneAway = true;
        // The streams after the last one the server handled are over: it never saw them.
        for (const stream of [...this.streams.values()]) if (stream.id > lastStreamId) stream.end(undefined, true);
        return;
      }
      case Frame.WindowUpdate: {
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) this.connectionWindow += increment;
        else {
          const stream = this.streams.get(streamId);
          if (stream) stream.sendWindow += increment;
        }
        this.flush();
        return;
      }
      default:
        return; // PRIORITY, PUSH_PROMISE (push is never accepted) and extensions: nothing to do
    }
  }

  private onSetting(id: number, value: number): void {
    if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
      const delta = value - this.peerInitialWindow;
      this.peerInitialWindow = value;
      for (const stream of this.streams.values()) stream.sendWindow += delta;
    } else if (id === SETTINGS_MAX_FRAME_SIZE) this.maxFrame = value;
  }

  /** A whole header block: decoded in order (HPACK's table is the connection's), then delivered. */
  private onHeaderBlock(): void {
    const { streamId, endStream, chunks } = this.headerBlock!;
    this.headerBlock = undefined;
    this.decoder.write(Buffer.concat(chunks));
    this.decoder.execute();
    const headers: Headers = {};
    for (let field = this.decoder.read(); field !== null; field = this.decoder.read()) headers[field.name] = field.value;
    this.streams.get(streamId)?.onHeaders(headers, endStream);
  }
}
