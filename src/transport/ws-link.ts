import type WebSocket from 'ws';
import { RingError } from '../errors.js';
import type { RecvLink, SendLink } from './link.js';
import { FRAME_MAGIC } from './frame.js';

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

type Waiter = { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout };

/**
 * One WebSocket as a ring link. Data frames go into an in-order inbox; control messages go to
 * `onControl`. Sends resolve when ws has written the frame, so callers may await flushing.
 */
export class WsLink implements SendLink, RecvLink {
  private inbox: Uint8Array[] = [];
  private inboxHead = 0;
  private waiter: Waiter | null = null;
  private failure: RingError | null = null;
  bytesSent = 0;
  bytesReceived = 0;
  onControl: ((body: Uint8Array) => void) | null = null;
  onFailure: ((e: RingError) => void) | null = null;

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
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.bytesReceived += data.byteLength;
    if (!isBinary || data.byteLength === 0) {
      this.reject(new RingError('E_FRAME', `${this.peerName} sent a text or empty message; only binary frames are allowed`));
      return;
    }
    const magic = data[0];
    if (magic === FRAME_MAGIC) {
      const w = this.waiter;
      if (w) {
        this.waiter = null;
        if (w.timer) clearTimeout(w.timer);
        w.resolve(data);
      } else {
        this.inbox.push(data);
      }
    } else if (magic === CONTROL_MAGIC) {
      try {
        this.onControl?.(data.subarray(1));
      } catch (e) {
        this.reject(e instanceof RingError ? e : new RingError('E_FRAME', `bad control message from ${this.peerName}: ${String(e)}`));
      }
    } else {
      this.reject(new RingError('E_FRAME', `${this.peerName} sent a frame with unknown magic byte 0x${magic.toString(16)}`));
    }
  }

  /** A protocol violation by the other side: close this link with a code and fail the waiter. */
  reject(e: RingError): void {
    this.fail(e);
    this.close(CloseCodes.badFrame, e.code);
  }

  private fail(e: RingError): void {
    if (this.failure) return;
    this.failure = e;
    const w = this.waiter;
    this.waiter = null;
    if (w) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(e);
    }
    this.onFailure?.(e);
  }

  get failed(): RingError | null {
    return this.failure;
  }

  recv(): Promise<Uint8Array> {
    if (this.inboxHead < this.inbox.length) {
      const f = this.inbox[this.inboxHead];
      this.inbox[this.inboxHead++] = undefined as unknown as Uint8Array;
      if (this.inboxHead === this.inbox.length) {
        this.inbox = [];
        this.inboxHead = 0;
      }
      return Promise.resolve(f);
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (this.recvTimeoutMs > 0) {
        w.timer = setTimeout(() => {
          this.fail(
            new RingError('E_PEER_TIMEOUT', `no data from ${this.peerName} for ${this.recvTimeoutMs} ms; it is stuck, overloaded or gone (raise ring.recvTimeoutMs if steps are this slow)`),
          );
        }, this.recvTimeoutMs);
      }
      this.waiter = w;
    });
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
