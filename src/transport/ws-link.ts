import type WebSocket from 'ws';
import type { Socket } from 'node:net';
import { RingError } from '../errors.js';
import type { RecvLink, SendLink } from './link.js';
import { FRAME_MAGIC, HEADER_BYTES, buildFrame, writeHeader, type BorrowingRecv, type FrameHeader, type FrameSend } from './frame.js';

/** First byte of a control message (msgpack body follows); data frames start with FRAME_MAGIC. */
export const CONTROL_MAGIC = 0xc7;

/** WebSocket close codes we use (4000-4999 is the application range). */
export const CloseCodes = {
  normal: 1000,
  badFrame: 4001,
  auth: 4003,
  mismatch: 4004,
  shutdown: 4005,
} as const;

/**
 * Payloads up to this size are copied next to the headers and written in one piece; larger ones
 * are written by reference after the headers (corked). Above ~4 KiB (Buffer's pool limit) the copy
 * needs a fresh ArrayBuffer per frame, which cost more than the second write: 4 KiB allreduces ran
 * 10-25 % faster with 2 KiB here than with 16 KiB.
 */
const COPY_SEND_MAX = 2 * 1024;

/** Direct-mode read size while a frame header is expected (libuv's own default). */
const READ_BYTES = 64 * 1024;

/** Frames at least this long are read straight into their final buffer. */
const LARGE_FRAME = 64 * 1024;

type Waiter = {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** Borrowing receive: called with a view that is only valid during the call. */
  use?: (frame: Uint8Array) => unknown;
};

/** The parts of ws's WebSocket this file reaches into (ws 8); every use is checked first. */
interface WsInternals {
  _socket?: Socket;
  _isServer?: boolean;
  _receiver?: { _state?: number; _bufferedBytes?: number; _maxPayload?: number };
}

/**
 * One WebSocket as a ring link. Data frames go into an in-order inbox; control messages go to
 * `onControl`. Sends resolve when the frame has been handed to the socket, so callers may await
 * flushing.
 *
 * Fast paths (the ring is CPU-bound here, so copies, allocations and GC are what it pays for;
 * data flows listener → dialer, so the frames it receives are unmasked):
 *  - Receive (client side): once the WebSocket is open this link parses the socket's bytes
 *    itself, and the socket reads straight into this link's buffers (see goDirectWhenDrained):
 *    headers into a small read buffer, a large payload directly into one reused, aligned join
 *    buffer, so nothing is allocated or copied per read. Frames are lent to `recvWith` callers
 *    (valid during the call) and copied only for `recv` callers or when nobody is waiting.
 *    Anything that is not a complete unmasked binary frame (close, ping, text, fragments, a
 *    masked frame, an oversized length) hands the stream back to ws at that frame boundary, so ws
 *    still runs the close handshake and enforces the protocol and maxPayload with its own codes.
 *  - Send (server side): `sendFrame` writes the WebSocket header and our frame header from one
 *    small buffer and the payload straight from the caller's bytes (socket writev, no
 *    concatenation); small payloads are copied next to the headers for a single write. A client
 *    (which must mask) uses ws.send.
 * Measured effect: docs/BENCH.md and the bench notes (RINGTRAIN_WS_PATH=ws|chunks switches them off).
 */
export class WsLink implements SendLink, RecvLink, FrameSend, BorrowingRecv {
  private inbox: Uint8Array[] = [];
  private inboxHead = 0;
  private waiter: Waiter | null = null;
  /** When the current waiter started waiting (Date.now()), for the watchdog. */
  private waitingSince = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private failure: RingError | null = null;
  bytesSent = 0;
  bytesReceived = 0;
  private controlHandler: ((body: Uint8Array) => void) | null = null;
  /** Control messages that arrived while nobody listened (e.g. right behind the handshake reply). */
  private controlBacklog: Uint8Array[] = [];

  get onControl(): ((body: Uint8Array) => void) | null {
    return this.controlHandler;
  }

  /** Setting a handler first delivers, in order, what arrived while there was none. */
  set onControl(h: ((body: Uint8Array) => void) | null) {
    this.controlHandler = h;
    while (this.controlHandler && this.controlBacklog.length) this.deliverControl(this.controlBacklog.shift()!);
  }

  private deliverControl(body: Uint8Array): void {
    const h = this.controlHandler;
    if (!h) {
      if (this.controlBacklog.length < 64) this.controlBacklog.push(Uint8Array.prototype.slice.call(body));
      else this.reject(new RingError('E_FRAME', `${this.peerName} sent too many unsolicited control messages`));
      return;
    }
    try {
      h(body);
    } catch (e) {
      this.reject(e instanceof RingError ? e : new RingError('E_FRAME', `bad control message from ${this.peerName}: ${String(e)}`));
    }
  }
  onFailure: ((e: RingError) => void) | null = null;

  /** The socket under ws, when this side may write unmasked frames to it directly. */
  private rawSend: Socket | null = null;

  // Receive path. 'ws': ws parses. 'chunks': we parse the socket's 'data' chunks. 'direct': the
  // socket reads into our buffers. 'returned': direct reads, but the stream belongs to ws again.
  private mode: 'ws' | 'chunks' | 'direct' | 'returned' = 'ws';
  private readonly wsHeader = Buffer.alloc(14);
  private headerHave = 0;
  private headerNeed = 2;
  private inPayload = false;
  private frameLength = 0;
  /** Bytes of the current frame already in joinBuf. */
  private have = 0;
  /** Where the current frame is assembled when it spans reads: ownJoinBuf or the staging area. */
  private joinBuf = new Uint8Array(0);
  /** This link's own assembly buffer (reused; 8-aligned, so payloads are aligned). */
  private ownJoinBuf = new Uint8Array(0);
  /** A ring vector's staging area, preferred for frames that fit (see assembleIn). */
  private staging: Uint8Array | null = null;
  /** Direct mode: the read buffer while a frame header is expected. */
  private readBuf: Buffer | null = null;
  private maxPayload = 0;
  private wsOnData: ((chunk: Buffer) => void) | null = null;
  private socket: Socket | null = null;
  private readonly onSocketData = (chunk: Buffer) => this.onChunk(chunk);

  constructor(
    private readonly ws: WebSocket,
    /** Who is on the other end, for messages ("rank 2 (127.0.0.1:4567)"). */
    readonly peerName: string,
    private readonly recvTimeoutMs: number,
  ) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => {
      const why = reason.toString() || 'no reason given';
      this.fail(new RingError('E_PEER_LOST', `link to ${peerName} closed (code ${code}: ${why})`, { code }));
    });
    ws.on('error', (err: Error) => {
      const code = (err as { code?: string }).code;
      if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.fail(new RingError('E_FRAME_TOO_LARGE', `${peerName} sent a frame over the size limit`));
      } else {
        this.fail(new RingError('E_PEER_LOST', `link to ${peerName} failed: ${err.message}`));
      }
    });
    // ws attaches its socket listener and then emits 'open' (client) or hands the socket to the
    // server's 'connection' handler, before any byte is read: the moment to take over is now.
    if (ws.readyState === 1) this.takeOver();
    else if (ws.readyState === 0) ws.once('open', () => this.takeOver());
  }

  private takeOver(): void {
    const tuning = process.env.RINGTRAIN_WS_PATH ?? '';
    if (tuning === 'ws') return;
    const internals = this.ws as unknown as WsInternals;
    const socket = internals._socket;
    const receiver = internals._receiver;
    if (!socket || !receiver || receiver._state !== 0 || receiver._bufferedBytes !== 0) return;
    const wsOnData = socket.listeners('data').find((f) => f.name === 'socketOnData') as ((chunk: Buffer) => void) | undefined;
    if (!wsOnData) return;
    this.maxPayload = receiver._maxPayload ?? 0;
    this.socket = socket;
    this.wsOnData = wsOnData;
    socket.removeListener('data', wsOnData);
    socket.on('data', this.onSocketData);
    socket.once('close', () => socket.removeListener('data', this.onSocketData));
    this.mode = 'chunks';
    if (internals._isServer === true) this.rawSend = socket;
    // Only the client side receives ring data (unmasked); the server side hands its first
    // (masked) frame back to ws anyway.
    else if (tuning !== 'chunks') this.goDirectWhenDrained();
  }

  /**
   * Direct reads (net.Socket `onread` semantics, switched on after the upgrade): the kernel
   * copies straight into our buffers, so no Buffer is allocated per read and no GC follows.
   * Node only offers this when a socket is created, so this reaches into net.Socket's private
   * user-buffer slots (Node 12+) after checking that they are there; otherwise reads stay as
   * 'data' chunks. Bytes ws already buffered are taken first, so the stream stays in order.
   */
  private goDirectWhenDrained(): void {
    const socket = this.socket!;
    if (socket.readableLength > 0) return; // onChunk calls again once they have been consumed
    const slots = Object.getOwnPropertySymbols(socket);
    const slot = (name: string) => slots.find((s) => s.description === name);
    const kBuffer = slot('kBuffer');
    const kBufferCb = slot('kBufferCb');
    const kBufferGen = slot('kBufferGen');
    const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
    if (!kBuffer || !kBufferCb || !kBufferGen || typeof handle?.useUserBuffer !== 'function' || (socket as { encrypted?: boolean }).encrypted) return;
    const s = socket as unknown as Record<symbol, unknown>;
    if (s[kBuffer] !== null || s[kBufferCb] !== null || s[kBufferGen] !== null) return;
    this.readBuf = Buffer.allocUnsafeSlow(READ_BYTES);
    const first = this.nextReadTarget();
    s[kBufferCb] = (n: number, buf: Uint8Array) => this.onDirectRead(n, buf);
    s[kBufferGen] = () => this.nextReadTarget();
    s[kBuffer] = first;
    handle.useUserBuffer(first);
    this.mode = 'direct';
  }

  /** Direct mode: the rest of the current frame goes straight into joinBuf; else a header read. */
  private nextReadTarget(): Uint8Array {
    if (this.inPayload && this.mode === 'direct') return this.joinBuf.subarray(this.have, this.frameLength);
    // After a large frame, read just the next headers (largest WebSocket header + ours), so the
    // next large payload goes straight into joinBuf instead of being copied out of readBuf.
    return this.frameLength >= LARGE_FRAME ? this.readBuf!.subarray(0, 10 + HEADER_BYTES) : this.readBuf!;
  }

  private onDirectRead(n: number, buf: Uint8Array): void {
    if (this.mode === 'returned') {
      this.wsOnData!.call(this.socket, Buffer.from(buf.subarray(0, n)));
      return;
    }
    if (buf.buffer === this.readBuf!.buffer) {
      this.consume(buf.subarray(0, n), true);
      return;
    }
    this.have += n;
    if (this.have === this.frameLength) {
      this.inPayload = false;
      this.onFrame(this.joinBuf.subarray(0, this.frameLength), true);
    }
  }

  private onChunk(chunk: Buffer): void {
    if (this.mode === 'chunks') {
      this.consume(chunk, false);
      if (this.mode === 'chunks' && this.socket && !this.rawSend && (process.env.RINGTRAIN_WS_PATH ?? '') !== 'chunks') this.goDirectWhenDrained();
    } else if (this.mode === 'direct') {
      // Left over from before the switch (Node emits buffered data first).
      this.consume(chunk, true);
    }
  }

  /** Gives the rest of the byte stream (from a frame boundary) back to ws, for good. */
  private handBack(rest: Buffer): void {
    const socket = this.socket!;
    const wsOnData = this.wsOnData!;
    if (this.mode === 'direct') {
      // Reads cannot be switched back to Node's buffers; copies of them go to ws from now on.
      this.mode = 'returned';
    } else {
      socket.removeListener('data', this.onSocketData);
      socket.on('data', wsOnData);
      this.mode = 'ws';
    }
    if (rest.length) wsOnData.call(socket, rest);
  }

  /**
   * Parses bytes from the socket: WebSocket frame headers, then payloads. A frame inside
   * `bytes` is handed over as a view of it; one that spans reads is assembled in joinBuf.
   * `transient`: the bytes will be overwritten by the next read (direct mode), so a view of them
   * is only lent out, never kept.
   */
  private consume(bytes: Uint8Array, transient: boolean): void {
    let p = 0;
    const n = bytes.length;
    while (p < n) {
      if (!this.inPayload) {
        const h = this.wsHeader;
        while (this.headerHave < this.headerNeed && p < n) h[this.headerHave++] = bytes[p++];
        if (this.headerHave < this.headerNeed) return;
        if (this.headerNeed === 2) {
          const len7 = h[1] & 0x7f;
          // Fast path: FIN + binary, no RSV bits, unmasked (a client receiving from a server),
          // and a real payload. Everything else goes back to ws, which knows the whole protocol.
          if (h[0] !== 0x82 || (h[1] & 0x80) !== 0 || len7 === 0) {
            this.returnToWs(bytes, p);
            return;
          }
          this.headerNeed = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
          if (this.headerNeed > 2) continue;
        }
        const len7 = h[1] & 0x7f;
        let len = len7;
        if (len7 === 126) len = h.readUInt16BE(2);
        else if (len7 === 127) {
          if (h.readUInt32BE(2) !== 0) {
            this.returnToWs(bytes, p);
            return;
          }
          len = h.readUInt32BE(6);
        }
        if (this.maxPayload > 0 && len > this.maxPayload) {
          this.returnToWs(bytes, p);
          return;
        }
        this.headerHave = 0;
        this.headerNeed = 2;
        this.inPayload = true;
        this.frameLength = len;
        this.have = 0;
        // Chosen now, so a direct read of the payload (next read target) lands in it.
        this.joinBuf = this.assemblyBuffer(len);
      }
      const left = this.frameLength - this.have;
      if (this.have === 0 && n - p >= left) {
        const view = bytes.subarray(p, p + left);
        p += left;
        this.inPayload = false;
        this.onFrame(view, transient);
      } else {
        const take = Math.min(n - p, left);
        this.joinBuf.set(bytes.subarray(p, p + take), this.have);
        this.have += take;
        p += take;
        if (this.have === this.frameLength) {
          this.inPayload = false;
          this.onFrame(this.joinBuf.subarray(0, this.frameLength), true);
        }
      }
      if (this.mode !== 'chunks' && this.mode !== 'direct') return; // handed back to ws
    }
  }

  /**
   * Frames that span reads are assembled in `staging` from the next frame on (while they fit), so
   * a ring vector's kernels find them in their own wasm memory (codec/simd.ts); null goes back to
   * the link's own buffer. The bytes are only lent to recvWith callers; a frame nobody waits for
   * is copied out, so the area is free again once the frame has been handed over.
   */
  assembleIn(staging: Uint8Array | null): void {
    this.staging = staging;
  }

  private assemblyBuffer(length: number): Uint8Array {
    if (this.staging && this.staging.byteLength >= length) return this.staging;
    if (this.ownJoinBuf.byteLength < length) {
      this.ownJoinBuf = new Uint8Array(Math.max(length, Math.min(2 * this.ownJoinBuf.byteLength, this.maxPayload || Infinity)));
    }
    return this.ownJoinBuf;
  }

  /** Hands the header bytes read so far plus the rest of these bytes back to ws. */
  private returnToWs(bytes: Uint8Array, p: number): void {
    const rest = Buffer.concat([this.wsHeader.subarray(0, this.headerHave), bytes.subarray(p)]);
    this.headerHave = 0;
    this.headerNeed = 2;
    this.handBack(rest);
  }

  /** A complete frame. `borrowed`: the view is only valid until this returns. */
  private onFrame(frame: Uint8Array, borrowed: boolean): void {
    this.bytesReceived += frame.byteLength;
    const magic = frame[0];
    if (magic === FRAME_MAGIC) {
      this.deliver(frame, borrowed);
    } else if (magic === CONTROL_MAGIC) {
      // Decoded control messages may keep views of their bytes: give them their own copy.
      this.deliverControl(borrowed ? Buffer.from(frame.subarray(1)) : frame.subarray(1));
    } else {
      this.reject(new RingError('E_FRAME', `${this.peerName} sent a frame with unknown magic byte 0x${magic.toString(16)}`));
    }
  }

  /** Slow path: a message ws parsed (before the takeover, or after a hand-back). */
  private onMessage(data: Buffer, isBinary: boolean): void {
    this.bytesReceived += data.byteLength;
    if (!isBinary || data.byteLength === 0) {
      this.reject(new RingError('E_FRAME', `${this.peerName} sent a text or empty message; only binary frames are allowed`));
      return;
    }
    const magic = data[0];
    if (magic === FRAME_MAGIC) {
      this.deliver(data, false);
    } else if (magic === CONTROL_MAGIC) {
      this.deliverControl(data.subarray(1));
    } else {
      this.reject(new RingError('E_FRAME', `${this.peerName} sent a frame with unknown magic byte 0x${magic.toString(16)}`));
    }
  }

  private deliver(frame: Uint8Array, borrowed: boolean): void {
    const w = this.waiter;
    if (!w) {
      // Nobody is waiting yet (the consumer is busy, or runs after this read): keep the frame.
      // A large frame in the link's own buffer is handed over whole (a new buffer is made); others,
      // and any frame in a ring vector's staging area (reused by the next frame), are copied.
      if (borrowed && frame.buffer === this.ownJoinBuf.buffer && frame.byteLength >= LARGE_FRAME) {
        this.inbox.push(frame);
        this.ownJoinBuf = new Uint8Array(this.ownJoinBuf.byteLength);
      } else {
        this.inbox.push(borrowed ? Buffer.from(frame) : frame);
      }
      return;
    }
    this.waiter = null;
    this.hand(w, borrowed && !w.use ? Buffer.from(frame) : frame);
  }

  private hand(w: Waiter, frame: Uint8Array): void {
    if (!w.use) {
      w.resolve(frame);
      return;
    }
    let result: unknown;
    try {
      result = w.use(frame);
    } catch (e) {
      w.reject(e as Error);
      return;
    }
    w.resolve(result);
  }

  /** A protocol violation by the other side: close this link with a code and fail the waiter. */
  reject(e: RingError): void {
    // Close first: an onFailure handler may terminate the socket, and the other side should
    // still get the code.
    this.close(CloseCodes.badFrame, e.code);
    this.fail(e);
  }

  private fail(e: RingError): void {
    if (this.failure) return;
    this.failure = e;
    const w = this.waiter;
    this.waiter = null;
    this.stopWatchdog();
    if (w) w.reject(e);
    this.onFailure?.(e);
  }

  get failed(): RingError | null {
    return this.failure;
  }

  recv(): Promise<Uint8Array> {
    return this.take<Uint8Array>(undefined);
  }

  /**
   * Receives the next data frame and passes it to `use`, whose result this resolves with. The
   * view is only valid during the call (it may be a reused buffer): copy what must outlive it.
   * `use` throwing rejects this receive and leaves the link open, like a bad frame given to recv.
   */
  recvWith<T>(use: (frame: Uint8Array) => T): Promise<T> {
    return this.take<T>(use);
  }

  private take<T>(use: ((frame: Uint8Array) => T) | undefined): Promise<T> {
    if (this.inboxHead < this.inbox.length) {
      const f = this.inbox[this.inboxHead];
      this.inbox[this.inboxHead++] = undefined as unknown as Uint8Array;
      if (this.inboxHead === this.inbox.length) {
        this.inbox = [];
        this.inboxHead = 0;
      }
      return new Promise<T>((resolve, reject) => this.hand({ resolve: resolve as (v: unknown) => void, reject, use }, f));
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.waiter = { resolve: resolve as (v: unknown) => void, reject, use };
      this.waitingSince = Date.now();
      if (this.recvTimeoutMs > 0 && !this.watchdog) this.startWatchdog();
    });
  }

  /**
   * Receive timeout. One timer per link checks a few times per timeout period whether a receive
   * has been waiting too long, instead of a timer armed and cleared per frame (which cost ~20 % of
   * a 4 KiB allreduce here). A stuck link fails between recvTimeoutMs and 1.25 × recvTimeoutMs.
   */
  private startWatchdog(): void {
    const period = Math.max(10, this.recvTimeoutMs / 4);
    this.watchdog = setInterval(() => {
      if (!this.waiter || Date.now() - this.waitingSince < this.recvTimeoutMs) return;
      this.fail(
        new RingError('E_PEER_TIMEOUT', `no data from ${this.peerName} for ${this.recvTimeoutMs} ms; it is stuck, overloaded or gone (raise ring.recvTimeoutMs if steps are this slow)`),
      );
    }, period);
    // The ring's own work keeps the process alive, never this check.
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  send(frame: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.bytesSent += frame.byteLength;
    return new Promise((resolve, reject) => {
      this.ws.send(frame, { binary: true }, (err) => {
        if (err) reject(this.failure ?? new RingError('E_PEER_LOST', `send to ${this.peerName} failed: ${err.message}`));
        else resolve();
      });
    });
  }

  /**
   * Sends header + payload as one data frame without concatenating them. The payload bytes are
   * written by reference: the caller must not change them until this resolves.
   */
  sendFrame(h: FrameHeader, payload: Uint8Array): Promise<void> {
    const socket = this.rawSend;
    if (!socket || this.ws.readyState !== 1 || socket.destroyed) return this.send(buildFrame(h, payload));
    if (this.failure) return Promise.reject(this.failure);
    const length = HEADER_BYTES + payload.byteLength;
    const ext = length < 126 ? 0 : length < 65536 ? 2 : 8;
    const inline = payload.byteLength <= COPY_SEND_MAX;
    const head = Buffer.allocUnsafe(2 + ext + HEADER_BYTES + (inline ? payload.byteLength : 0));
    head[0] = 0x82; // FIN + binary
    if (ext === 0) head[1] = length;
    else if (ext === 2) {
      head[1] = 126;
      head.writeUInt16BE(length, 2);
    } else {
      head[1] = 127;
      head.writeUInt32BE(0, 2);
      head.writeUInt32BE(length, 6);
    }
    writeHeader(head.subarray(2 + ext), h);
    this.bytesSent += length;
    if (inline) head.set(payload, 2 + ext + HEADER_BYTES);
    else {
      socket.cork();
      socket.write(head);
    }
    // The callback stays anonymous: a named closure costs a defineProperty per frame under tsx.
    const sent = new Promise<void>((resolve, reject) => {
      socket.write(inline ? head : payload, (err?: Error | null) => {
        if (err) reject(this.failure ?? new RingError('E_PEER_LOST', `send to ${this.peerName} failed: ${err.message}`));
        else resolve();
      });
    });
    if (!inline) socket.uncork();
    return sent;
  }

  sendControl(body: Uint8Array): void {
    const msg = Buffer.allocUnsafe(body.byteLength + 1);
    msg[0] = CONTROL_MAGIC;
    msg.set(body, 1);
    this.bytesSent += msg.byteLength;
    this.ws.send(msg, { binary: true });
  }

  close(code: number = CloseCodes.normal, reason = ''): void {
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      this.ws.terminate();
    }
  }

  terminate(): void {
    this.ws.terminate();
  }
}
