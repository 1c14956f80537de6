/**
 * The raw-TCP baseline: the same ring (reduce-scatter + all-gather, segment pipelining, the same
 * 32-byte frame header and the same add kernel as the dense codec) over bare net.Sockets, so the
 * gap between it and the WebSocket ring is what the WebSocket layer costs. Data flows listener →
 * dialer as in RingPeer. It is a benchmark ceiling, not a product transport: no authentication,
 * no reconnection, no control messages.
 *
 * Receive path: the dialer's socket reads (net `onread`) straight into the bytes where the next
 * frame part belongs: the header into a 32-byte buffer, an all-gather payload into the vector
 * itself, a reduce-scatter payload into one reused aligned staging buffer that is then added in
 * place. Reads are sized to the frame part the ring expects next, so no userland copy is made
 * and no Buffer is allocated per read. Everything happens inside the read callback: a finished
 * segment is added and forwarded before the next read, with no promise per frame.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { RingError } from '../errors.js';
import { HEADER_BYTES, Phase, DType, writeHeader, readHeader, expectHeader, type FrameHeader } from '../transport/frame.js';
import { chunkRange, mod, segmentCount, segmentRange } from '../collective/chunks.js';
import { addChecked } from '../codec/dense.js';
import { allocRingVector, arenaOf } from '../codec/simd.js';

export interface TcpRingOptions {
  rank: number;
  size: number;
  listenHost: string;
  listenPort: number;
  segmentBytes: number;
  connectTimeoutMs: number;
}

const HELLO_MAGIC = 0x52544370; // "RTCp"

interface Expected {
  phase: 0 | 1;
  chunk: number;
  segment: number;
  a: number;
  b: number;
  origin: number;
  /** Forward this segment after receiving it (not on the last step of a phase). */
  forward: boolean;
  /** Last reduce-scatter step: the segment is final, start its all-gather at once. */
  owned: boolean;
}

type Vec = Float32Array | Float64Array;

interface Op {
  v: Vec;
  dtype: 1 | 2;
  frames: Expected[];
  next: number;
  writesPending: number;
  recvDone: boolean;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class TcpRing {
  private server: net.Server | null = null;
  private toSuccessor: net.Socket | null = null;
  private fromPredecessor: net.Socket | null = null;
  private successorReady!: Promise<net.Socket>;
  private step = 0;
  bytesSent = 0;
  private op: Op | null = null;
  private failure: Error | null = null;
  private successorGone: Error | null = null;
  private predecessorGone: Error | null = null;

  // Receive state: where the next bytes go.
  private readonly header = new Uint8Array(HEADER_BYTES);
  private target: Uint8Array = this.header;
  private filled = 0;
  private inPayload = false;
  /** Bytes read while no allreduce was expecting them (the predecessor ran ahead). */
  private backlog: Buffer[] = [];
  private readonly overflow = Buffer.allocUnsafe(64 * 1024);
  private lastView: Uint8Array | null = null;
  /** Where reduce-scatter payloads land: a ring vector's own staging area, else this buffer. */
  private ownStaging = new ArrayBuffer(0);
  private staging: Uint8Array = new Uint8Array(0);

  private constructor(readonly o: TcpRingOptions) {}

  get rank(): number {
    return this.o.rank;
  }
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  static async listen(o: TcpRingOptions): Promise<TcpRing> {
    const ring = new TcpRing(o);
    if (o.size > 1) await ring.startServer();
    return ring;
  }

  private startServer(): Promise<void> {
    let resolveSucc!: (s: net.Socket) => void;
    this.successorReady = new Promise((res) => (resolveSucc = res));
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true }, (sock) => {
        sock.setNoDelay(true);
        const hello = Buffer.alloc(8);
        let got = 0;
        const onData = (b: Buffer) => {
          const take = Math.min(8 - got, b.length);
          b.copy(hello, got, 0, take);
          got += take;
          if (got < 8) return;
          sock.off('data', onData);
          const rank = hello.readUInt32LE(4);
          if (hello.readUInt32LE(0) !== HELLO_MAGIC || rank !== (this.o.rank + 1) % this.o.size || this.toSuccessor) {
            sock.destroy();
            return;
          }
          sock.pause();
          sock.on('error', (e) => this.fail(new RingError('E_PEER_LOST', `tcp link to rank ${rank} failed: ${e.message}`)));
          // A successor that has everything it needs may close before our write callbacks ran:
          // that only matters to a later send.
          sock.on('close', () => (this.successorGone = new RingError('E_PEER_LOST', `tcp link to rank ${rank} closed`)));
          this.toSuccessor = sock;
          resolveSucc(sock);
        };
        sock.on('data', onData);
        sock.on('error', () => undefined);
      });
      this.server = server;
      server.once('error', reject);
      server.listen(this.o.listenPort, this.o.listenHost, () => resolve());
    });
  }

  async join(pred: { host: string; port: number }): Promise<void> {
    if (this.o.size === 1) return;
    const deadline = Date.now() + this.o.connectTimeoutMs;
    for (;;) {
      try {
        this.fromPredecessor = await this.dial(pred);
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new RingError('E_PEER_TIMEOUT', `tcp ring: cannot reach ${pred.host}:${pred.port}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await this.successorReady;
    const one = new Float64Array([1]);
    await this.allreduce(one);
    if (one[0] !== this.o.size) throw new RingError('E_HANDSHAKE', `tcp ring barrier counted ${one[0]} peers`);
  }

  private dial(pred: { host: string; port: number }): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({
        host: pred.host,
        port: pred.port,
        noDelay: true,
        onread: {
          buffer: () => this.nextReadBuffer(),
          callback: (n: number, buf: Uint8Array) => this.onRead(n, buf),
        },
      });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        sock.on('error', (e) => this.fail(new RingError('E_PEER_LOST', `tcp link from predecessor failed: ${e.message}`)));
        sock.on('close', () => {
          const e = new RingError('E_PEER_LOST', 'tcp link from predecessor closed');
          this.predecessorGone = e;
          if (this.op && !this.op.recvDone) this.fail(e);
        });
        const hello = Buffer.alloc(8);
        hello.writeUInt32LE(HELLO_MAGIC, 0);
        hello.writeUInt32LE(this.o.rank, 4);
        sock.write(hello);
        resolve(sock);
      });
    });
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    const op = this.op;
    this.op = null;
    op?.reject(e);
  }

  /** Where the kernel should put the next read: exactly the rest of the expected frame part. */
  private nextReadBuffer(): Uint8Array {
    const op = this.op;
    this.lastView = op && !op.recvDone ? this.target.subarray(this.filled) : this.overflow;
    return this.lastView;
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    try {
      const op = this.op;
      if (!op || op.recvDone || buf !== this.lastView || buf === this.overflow) {
        // Bytes nobody was expecting yet (the predecessor has started the next allreduce):
        // keep a copy; the next allreduce consumes it first.
        this.backlog.push(Buffer.from(buf.subarray(0, n)));
        if (op && !op.recvDone) this.drainBacklog();
        return true;
      }
      this.filled += n;
      if (this.filled === this.target.byteLength) this.partDone();
    } catch (e) {
      this.fail(e as Error);
    }
    return true;
  }

  /** Feeds bytes that arrived before the allreduce expecting them started (rare). */
  private drainBacklog(): void {
    while (this.op && !this.op.recvDone && this.backlog.length) {
      const b = this.backlog[0];
      const take = Math.min(b.length, this.target.byteLength - this.filled);
      this.target.set(b.subarray(0, take), this.filled);
      this.filled += take;
      if (take === b.length) this.backlog.shift();
      else this.backlog[0] = b.subarray(take);
      if (this.filled === this.target.byteLength) this.partDone();
    }
  }

  private partDone(): void {
    const op = this.op!;
    const e = op.frames[op.next];
    if (!this.inPayload) {
      expectHeader(readHeader(this.header), this.headerFor(op, e.phase, e.chunk, e.segment, e.b - e.a, e.origin), `rank ${mod(this.o.rank - 1, this.o.size)} (tcp)`);
      this.inPayload = true;
      this.filled = 0;
      const bytesPer = op.dtype === DType.f32 ? 4 : 8;
      if (e.phase === Phase.allGather) {
        this.target = new Uint8Array(op.v.buffer, op.v.byteOffset + e.a * bytesPer, (e.b - e.a) * bytesPer);
      } else {
        this.target = this.staging.subarray(0, (e.b - e.a) * bytesPer);
      }
      return;
    }
    // A payload is complete.
    this.inPayload = false;
    this.target = this.header;
    this.filled = 0;
    if (e.phase === Phase.reduceScatter) {
      addInto(op.v.subarray(e.a, e.b), this.staging, e.b - e.a);
      if (e.forward) this.sendSegment(op, Phase.reduceScatter, e.chunk, e.segment, e.a, e.b);
      if (e.owned) this.sendSegment(op, Phase.allGather, e.chunk, e.segment, e.a, e.b);
    } else if (e.forward) {
      this.sendSegment(op, Phase.allGather, e.chunk, e.segment, e.a, e.b);
    }
    op.next++;
    if (op.next === op.frames.length) {
      op.recvDone = true;
      this.maybeFinish(op);
    }
  }

  private headerFor(op: Op, phase: 0 | 1, chunk: number, segment: number, count: number, origin: number): FrameHeader {
    return { codec: 0, phase, dtype: op.dtype, generation: 0, step: this.step, chunk, segment, count, origin };
  }

  private sendSegment(op: Op, phase: 0 | 1, chunk: number, segment: number, a: number, b: number): void {
    if (this.successorGone) throw this.successorGone;
    const sock = this.toSuccessor!;
    const hdr = Buffer.allocUnsafe(HEADER_BYTES);
    writeHeader(hdr, this.headerFor(op, phase, chunk, segment, b - a, this.o.rank));
    const bytesPer = op.dtype === DType.f32 ? 4 : 8;
    // A view, not a copy: the ring never changes these bytes before the successor has them.
    const payload = new Uint8Array(op.v.buffer, op.v.byteOffset + a * bytesPer, (b - a) * bytesPer);
    op.writesPending++;
    this.bytesSent += HEADER_BYTES + payload.byteLength;
    sock.cork();
    sock.write(hdr);
    sock.write(payload, (err) => {
      if (err) return this.fail(err);
      op.writesPending--;
      this.maybeFinish(op);
    });
    sock.uncork();
  }

  private maybeFinish(op: Op): void {
    if (op.recvDone && op.writesPending === 0 && this.op === op) {
      this.op = null;
      this.step++;
      op.resolve();
    }
  }

  /** A ring vector (codec/simd.ts) whose staging area fits one reduce-scatter segment. */
  allocVector(length: number): Float32Array {
    return allocRingVector(length, this.o.segmentBytes);
  }

  /** Sums v across the ring in place (float32 with the dense add kernel, or float64). */
  allreduce(v: Vec): Promise<void> {
    const gone = this.failure ?? this.successorGone ?? this.predecessorGone;
    if (gone) return Promise.reject(gone);
    const n = this.o.size;
    if (n === 1) return Promise.resolve();
    if (this.op) return Promise.reject(new RingError('E_INTERNAL', 'tcp ring: one allreduce at a time'));
    const r = this.o.rank;
    const d = v.length;
    const dtype = v instanceof Float32Array ? DType.f32 : DType.f64;
    const segElems = Math.max(1, Math.floor(this.o.segmentBytes / v.BYTES_PER_ELEMENT));
    const frames: Expected[] = [];
    for (let s = 0; s < n - 1; s++) {
      const c = mod(r - s - 1, n);
      for (let k = 0; k < segs(d, n, c, segElems); k++) {
        const [a, b] = segmentRange(d, n, c, k, segElems);
        frames.push({ phase: 0, chunk: c, segment: k, a, b, origin: mod(r - 1, n), forward: s < n - 2, owned: s === n - 2 });
      }
    }
    for (let s = 0; s < n - 1; s++) {
      const c = mod(r - s, n);
      for (let k = 0; k < segs(d, n, c, segElems); k++) {
        const [a, b] = segmentRange(d, n, c, k, segElems);
        frames.push({ phase: 1, chunk: c, segment: k, a, b, origin: mod(r - 1, n), forward: s < n - 2, owned: false });
      }
    }
    const stagingBytes = Math.min(segElems, d) * v.BYTES_PER_ELEMENT;
    // A ring vector's staging area (codec/simd.ts) makes the add run in place, as in RingPeer.
    const arena = arenaOf(v.buffer);
    if (arena && arena.staging.byteLength >= stagingBytes) this.staging = arena.staging;
    else {
      if (this.ownStaging.byteLength < stagingBytes) this.ownStaging = new ArrayBuffer(stagingBytes);
      this.staging = new Uint8Array(this.ownStaging);
    }
    return new Promise<void>((resolve, reject) => {
      const op: Op = { v, dtype, frames, next: 0, writesPending: 0, recvDone: frames.length === 0, resolve, reject };
      this.op = op;
      this.target = this.header;
      this.filled = 0;
      this.inPayload = false;
      try {
        // Reduce-scatter step 0: our own chunk r.
        for (let k = 0; k < segs(d, n, r, segElems); k++) {
          const [a, b] = segmentRange(d, n, r, k, segElems);
          this.sendSegment(op, Phase.reduceScatter, r, k, a, b);
        }
        this.drainBacklog();
      } catch (e) {
        this.fail(e as Error);
      }
      this.maybeFinish(op);
    });
  }

  async close(): Promise<void> {
    this.toSuccessor?.destroy();
    this.fromPredecessor?.destroy();
    const server = this.server;
    if (server) await new Promise<void>((res) => server.close(() => res()));
  }
}

function segs(d: number, n: number, c: number, segElems: number): number {
  const [a, b] = chunkRange(d, n, c);
  return segmentCount(b - a, segElems);
}

function addInto(out: Vec, staging: Uint8Array, count: number): void {
  if (out instanceof Float32Array) {
    addChecked(out, new Float32Array(staging.buffer, staging.byteOffset, count));
    return;
  }
  const src = new Float64Array(staging.buffer, staging.byteOffset, count);
  for (let i = 0; i < count; i++) out[i] += src[i];
}
