import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

/**
 * Just enough of RFC 6455 over raw TCP to say things a well-behaved `ws` would never send:
 * unmasked client frames, reserved bits, bad opcodes, lengths over the limit, text frames,
 * garbage instead of the HTTP upgrade. Used by the fuzz tests only (always 127.0.0.1).
 */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Op = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface WsFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export interface EncodeOptions {
  mask?: boolean;
  fin?: boolean;
  rsv?: number;
  /** Announce this payload length instead of the real one (the bytes sent are still `payload`). */
  announce?: number;
  /** Force the 16-bit or 64-bit extended length even when a shorter form would do. */
  lengthForm?: 7 | 16 | 64;
}

export function encodeWsFrame(opcode: number, payload: Uint8Array, o: EncodeOptions = {}): Buffer {
  const mask = o.mask ?? false;
  const len = o.announce ?? payload.byteLength;
  const form = o.lengthForm ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
  const ext = form === 7 ? 0 : form === 16 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = ((o.fin ?? true) ? 0x80 : 0) | (((o.rsv ?? 0) & 7) << 4) | (opcode & 0x0f);
  if (form === 7) head[1] = len & 0x7f;
  else if (form === 16) {
    head[1] = 126;
    head.writeUInt16BE(len & 0xffff, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  let body = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (mask) {
    head[1] |= 0x80;
    const key = randomBytes(4);
    key.copy(head, 2 + ext);
    body = Buffer.from(body);
    for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  }
  return Buffer.concat([head, body]);
}

export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

/** Incremental frame parser for either direction (masked or not). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): WsFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: WsFrame[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let p = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        p = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        p = 10;
      }
      const keyAt = p;
      if (masked) p += 4;
      if (b.length < p + len) break;
      const payload = Buffer.from(b.subarray(p, p + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= b[keyAt + (i & 3)];
      out.push({ fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, payload });
      this.buf = b.subarray(p + len);
    }
    return out;
  }
}

/** How a hostile connection ended, as seen from the hostile side. */
export interface Ending {
  /** Code of the close frame the peer sent, if it sent one. */
  code: number | null;
  reason: string;
  /** The TCP connection ended (FIN or reset) before we gave up waiting. */
  ended: boolean;
  timedOut: boolean;
  /** First bytes the peer wrote when the upgrade failed (an HTTP error response). */
  httpStatus: number | null;
}

/**
 * One raw TCP connection speaking WebSocket (client or server role). Collects every frame the
 * other side sends; `ending()` resolves at its close frame or when TCP ends.
 */
export class RawConn {
  readonly frames: WsFrame[] = [];
  private reader = new FrameReader();
  private closeFrame: WsFrame | null = null;
  private tcpEnded = false;
  private waiters: (() => void)[] = [];
  httpStatus: number | null = null;

  constructor(readonly socket: Socket, leftover: Buffer = Buffer.alloc(0)) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => {
      this.tcpEnded = true;
      this.wake();
    });
    socket.on('error', () => undefined);
    if (leftover.length) this.onData(leftover);
  }

  private onData(chunk: Buffer): void {
    for (const f of this.reader.push(chunk)) {
      this.frames.push(f);
      if (f.opcode === Op.close && !this.closeFrame) this.closeFrame = f;
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          resolve(true);
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  /** The next binary/text message from the other side (skipping ping/pong). */
  async nextMessage(timeoutMs: number, from = 0): Promise<WsFrame | null> {
    const find = () => this.frames.slice(from).find((f) => f.opcode === Op.binary || f.opcode === Op.text) ?? null;
    await this.until(() => find() !== null || this.closeFrame !== null || this.tcpEnded, timeoutMs);
    return find();
  }

  messageCount(): number {
    return this.frames.filter((f) => f.opcode === Op.binary || f.opcode === Op.text).length;
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  async ending(timeoutMs: number): Promise<Ending> {
    const ok = await this.until(() => this.closeFrame !== null || this.tcpEnded, timeoutMs);
    const cf = this.closeFrame;
    return {
      code: cf && cf.payload.length >= 2 ? cf.payload.readUInt16BE(0) : null,
      reason: cf && cf.payload.length > 2 ? cf.payload.subarray(2).toString() : '',
      ended: this.tcpEnded,
      timedOut: !ok,
      httpStatus: this.httpStatus,
    };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Opens a TCP connection and performs (or, with `request`, mangles) the HTTP upgrade. */
export function rawClient(port: number, opts: { host?: string; request?: Buffer; timeoutMs?: number } = {}): Promise<RawConn> {
  const host = opts.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('upgrade timed out'));
    }, opts.timeoutMs ?? 5000);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      const conn = new RawConn(socket, head.subarray(end + 4));
      conn.httpStatus = status;
      resolve(conn);
    };
    socket.on('data', onData);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('close', () => {
      // Closed before any HTTP answer (e.g. garbage request): hand back an ended connection.
      if (socket.listenerCount('data') && head.indexOf('\r\n\r\n') < 0) {
        clearTimeout(timer);
        const conn = new RawConn(socket);
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head.toString('latin1'))?.[1];
        conn.httpStatus = status ? Number(status) : null;
        resolve(conn);
      }
    });
    socket.once('connect', () => {
      const key = randomBytes(16).toString('base64');
      socket.write(
        opts.request ??
          Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
      );
    });
  });
}

/**
 * A raw WebSocket server on 127.0.0.1:0: accepts every upgrade and hands the connection to
 * `onConn`, which plays the hostile listener.
 */
export async function rawServer(onConn: (c: RawConn) => void): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      onConn(new RawConn(socket, head.subarray(end + 4)));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
