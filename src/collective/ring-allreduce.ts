import type { RecvLink, SendLink } from '../transport/link.js';
import { RingError } from '../errors.js';
import { buildFrame, canRecvWith, canSendFrame, expectHeader, payloadOf, Phase, readHeader, type FrameHeader, type PhaseId } from '../transport/frame.js';
import type { SegmentCodec } from './segment-codec.js';
import { mod, segmentCount, chunkRange, segmentRange, trackSend } from './chunks.js';
import { arenaOf } from '../codec/simd.js';

export interface RingPosition {
  readonly rank: number;
  readonly size: number;
  readonly generation: number;
  /** Sequence number of this collective in the generation (frames carry it). */
  readonly step: number;
}

export interface AllreduceOptions<T extends Float32Array | Float64Array> extends RingPosition {
  readonly codec: SegmentCodec<T>;
  readonly segmentElems: number;
  readonly seed: number;
  /** Error-feedback memory, same length as the vector (lossy codecs only). */
  readonly residual?: Float32Array;
  /**
   * Raw codecs take the latency path (N-1 hops instead of 2(N-1)) for vectors of at most this
   * many bytes, as long as the N-1 vectors it brings in stay under 4× that. Default
   * SMALL_ALLREDUCE_BYTES; 0 turns it off.
   */
  readonly smallBytes?: number;
  /**
   * At N ≥ 3, raw-codec vectors of at most this many bytes take chainAllreduce (fewest frames)
   * instead. Worth it where a frame costs more than its bytes: peers sharing a host's cores.
   * Default 0 (off); RingPeer sets CHAIN_ALLREDUCE_BYTES for rings whose peers are all on
   * loopback.
   */
  readonly chainBytes?: number;
}

/**
 * Small allreduces are all latency (a hop costs ~15-50 µs here, copying 4 KiB ~1 µs), so up to
 * this size the ring sends whole vectors (measured: 4 KiB at N = 2..8 faster, 16 KiB at N = 4
 * slower); see gatherSumAllreduce.
 */
export const SMALL_ALLREDUCE_BYTES = Number(process.env.RINGTRAIN_SMALL_ALLREDUCE_BYTES ?? 8 * 1024);

/**
 * Peers on one host (N processes sharing its cores): every frame costs a wake-up and ~25 µs of
 * Node CPU, and the bytes are a memcpy, so the chain (2(N-1) frames in all) beats the ring's
 * 2N(N-1) frames up to tens of KiB. Measured N=4: 16 KiB 1.0 ms → 0.5-0.58 ms, 64 KiB 1.3-1.9 →
 * 0.63-0.77 ms; 1 MiB 3.8 → 10 ms (the chain carries 2× the bytes, unpipelined). On a real
 * network the chain's bytes cost link time, so it stays off there.
 */
export const CHAIN_ALLREDUCE_BYTES = Number(process.env.RINGTRAIN_CHAIN_ALLREDUCE_BYTES ?? 64 * 1024);

/** RINGTRAIN_SMALL_ALGORITHM, read once (process.env is a slow lookup; see smallPath). */
const FORCED_SMALL_ALGORITHM = ((v) => (v === 'gather' || v === 'chain' ? v : null))(process.env.RINGTRAIN_SMALL_ALGORITHM);

export interface RingLinks {
  readonly toSuccessor: SendLink;
  readonly fromPredecessor: RecvLink;
}

/**
 * Ring allreduce (Patarasuk & Yuan): reduce-scatter then all-gather, in place.
 *
 * Reduce-scatter: in step s peer r sends chunk (r - s) and adds the incoming chunk (r - s - 1);
 * after N-1 steps it owns the full sum of chunk (r + 1). All-gather: the owner fixes the final
 * bytes of its chunk once and they are forwarded unchanged, so every peer ends bit-identical.
 *
 * Pipelining: each chunk travels as segments, and a segment is forwarded as soon as it has been
 * added, so step s+1 of segment k overlaps step s of segment k+1 (Gloo's chunked ring does the same);
 * a segment that becomes final in the last reduce-scatter step starts its all-gather at once.
 * Lossy codecs re-encode at every hop (requantize mode) and keep their error in `residual`.
 *
 * Copies: with a raw codec (dense f32, f64) payloads go out as views of `buf` (links with
 * sendFrame), received frames are lent to the add (links with recvWith), and an all-gathered
 * segment is forwarded from `buf` rather than from its frame. Small vectors take a latency path
 * instead (gatherSumAllreduce or chainAllreduce, see smallPath).
 */
export async function ringAllreduce<T extends Float32Array | Float64Array>(
  links: RingLinks,
  buf: T,
  o: AllreduceOptions<T>,
): Promise<void> {
  const { rank: r, size: n, codec } = o;
  const d = buf.length;
  if (n === 1) {
    if (!codec.lossless) encodeOwnAndApply(buf, 0, d, 0, 0, o);
    return;
  }
  const path = codec.raw && d > 0 ? smallPath(n, d * buf.BYTES_PER_ELEMENT, o.smallBytes ?? SMALL_ALLREDUCE_BYTES, o.chainBytes ?? 0) : null;
  if (path === 'chain') return chainAllreduce(links, buf, o);
  if (path === 'gather') return gatherSumAllreduce(links, buf, o);
  const out = links.toSuccessor;
  const inp = links.fromPredecessor;
  const pending: Promise<void>[] = [];
  const header = (phase: PhaseId, chunk: number, segment: number, count: number, origin: number): FrameHeader => ({
    codec: codec.id,
    phase,
    dtype: codec.dtype,
    generation: o.generation,
    step: o.step,
    chunk,
    segment,
    count,
    origin,
  });
  const encodeSegment = (chunk: number, k: number, a: number, b: number): Uint8Array =>
    codec.encode(buf.subarray(a, b) as T, {
      seed: o.seed,
      step: o.step,
      rank: r,
      chunk,
      segment: k,
      residual: o.residual?.subarray(a, b),
    });
  // Payloads go out by reference where the link allows it (a raw codec's payload is a view of
  // buf). That is safe because the ring never changes a range of buf that is still in flight:
  // each range is written again only after it has gone round the ring and come back.
  const sendFrame = canSendFrame(out)
    ? (h: FrameHeader, payload: Uint8Array) => trackSend(pending, out.sendFrame(h, payload))
    : (h: FrameHeader, payload: Uint8Array) => trackSend(pending, out.send(buildFrame(h, payload)));
  const borrow = canRecvWith(inp) ? inp : null;
  // A ring vector: frames are assembled next to it, so the adds and copies below run in place.
  const arena = arenaOf(buf.buffer);
  if (arena) borrow?.assembleIn?.(arena.staging);
  const from = `rank ${mod(r - 1, n)}`;
  const pred = mod(r - 1, n);

  // The owner fixes the final bytes of a segment of its chunk once and starts its all-gather.
  const ownSegment = (c: number, k: number, a: number, b: number): void => {
    const bytes = encodeSegment(c, k, a, b);
    // A lossy owner uses the decoded bytes, exactly as every receiver will.
    if (!codec.lossless) codec.decodeInto(bytes, buf.subarray(a, b) as T, 'set');
    sendFrame(header(Phase.allGather, c, k, b - a, r), bytes);
  };

  // Reduce-scatter. Step 0 sends our own chunk r whole; later steps forward as segments arrive.
  {
    const c = r;
    const segs = segmentCount(chunkLength(d, n, c), o.segmentElems);
    for (let k = 0; k < segs; k++) {
      const [a, b] = segmentRange(d, n, c, k, o.segmentElems);
      sendFrame(header(Phase.reduceScatter, c, k, b - a, r), encodeSegment(c, k, a, b));
    }
  }
  // A lossy codec that can fuse "add the incoming segment, re-encode it (and, as owner, take
  // the decoded values)" makes two passes over the segment instead of three or four.
  const fused = codec.lossless ? undefined : codec.addDecodedThenEncode;
  for (let s = 0; s < n - 1; s++) {
    const c = mod(r - s - 1, n);
    const segs = segmentCount(chunkLength(d, n, c), o.segmentElems);
    for (let k = 0; k < segs; k++) {
      const [a, b] = segmentRange(d, n, c, k, o.segmentElems);
      const want = header(Phase.reduceScatter, c, k, b - a, pred);
      if (fused) {
        const owns = s === n - 2;
        const ctx = { seed: o.seed, step: o.step, rank: r, chunk: c, segment: k, residual: o.residual?.subarray(a, b) };
        let bytes: Uint8Array | undefined;
        const addAndEncode = (frame: Uint8Array): void => {
          expectHeader(readHeader(frame), want, from);
          bytes = fused.call(codec, payloadOf(frame), buf.subarray(a, b) as T, ctx, owns);
        };
        if (borrow) await borrow.recvWith(addAndEncode);
        else addAndEncode(await inp.recv());
        sendFrame(header(owns ? Phase.allGather : Phase.reduceScatter, c, k, b - a, r), bytes!);
        continue;
      }
      const addFrame = (frame: Uint8Array): void => {
        expectHeader(readHeader(frame), want, from);
        codec.decodeInto(payloadOf(frame), buf.subarray(a, b) as T, 'add');
      };
      if (borrow) await borrow.recvWith(addFrame);
      else addFrame(await inp.recv());
      if (s < n - 2) sendFrame(header(Phase.reduceScatter, c, k, b - a, r), encodeSegment(c, k, a, b));
      // Last step: this segment of chunk r+1 is complete here; its all-gather starts at once
      // (pipelined with the rest of the reduce-scatter).
      else ownSegment(c, k, a, b);
    }
  }

  // All-gather: pass every finished chunk on unchanged.
  for (let s = 0; s < n - 1; s++) {
    const c = mod(r - s, n);
    const owner = mod(c - 1, n);
    const segs = segmentCount(chunkLength(d, n, c), o.segmentElems);
    for (let k = 0; k < segs; k++) {
      const [a, b] = segmentRange(d, n, c, k, o.segmentElems);
      const want = header(Phase.allGather, c, k, b - a, owner);
      const forward = s < n - 2;
      if (borrow && codec.raw) {
        // The segment's bytes land in buf exactly, so forward them from there (no frame copy).
        await borrow.recvWith((frame) => {
          expectHeader(readHeader(frame), want, from);
          codec.decodeInto(payloadOf(frame), buf.subarray(a, b) as T, 'set');
        });
        if (forward) sendFrame(header(Phase.allGather, c, k, b - a, owner), codec.encode(buf.subarray(a, b) as T, { seed: o.seed, step: o.step, rank: r, chunk: c, segment: k }));
      } else {
        const frame = await inp.recv();
        expectHeader(readHeader(frame), want, from);
        codec.decodeInto(payloadOf(frame), buf.subarray(a, b) as T, 'set');
        // Forward the owner's exact bytes (a lossy encoding is never re-encoded).
        if (forward) trackSend(pending, out.send(frame));
      }
    }
  }
  await Promise.all(pending);
}

/**
 * The small-vector path: every peer's whole vector goes once round the ring (N-1 hops, one frame
 * each, phase gatherEncoded) and every peer adds the N vectors in rank order 0, 1, …, N-1. Same
 * values in the same order on every peer, so every peer ends bit-identical, as with the ring's
 * owner-fixes-the-bytes rule. Costs (N-1)·d bytes per peer instead of 2(N-1)/N·d, which does not
 * matter below a few KiB, and halves the number of sequential hops.
 */
async function gatherSumAllreduce<T extends Float32Array | Float64Array>(links: RingLinks, buf: T, o: AllreduceOptions<T>): Promise<void> {
  const { rank: r, size: n, codec } = o;
  const d = buf.length;
  const bytes = d * buf.BYTES_PER_ELEMENT;
  const out = links.toSuccessor;
  const inp = links.fromPredecessor;
  const pending: Promise<void>[] = [];
  // No named closures on this path: tsx (esbuild keepNames) gives every one a defineProperty per
  // creation, which at 4 KiB is measurable; helpers are module functions, callbacks anonymous.
  // vectors[origin]: that rank's bytes (ours copied, since buf becomes the sum before our send
  // is guaranteed to have left). The buffer is the link's, reused by its next collective: every
  // send from it has been handed to the socket before this function returns.
  const all = gatherScratch(out, n * bytes);
  all.set(new Uint8Array(buf.buffer, buf.byteOffset, bytes), r * bytes);
  sendGathered(out, pending, gatherHeader(o, d, r), all.subarray(r * bytes, (r + 1) * bytes));
  const pred = mod(r - 1, n);
  const borrow = canRecvWith(inp) ? inp : null;
  for (let s = 0; s < n - 1; s++) {
    const origin = mod(r - s - 1, n);
    if (borrow) await borrow.recvWith((frame) => takeGathered(frame, all, origin, bytes, o, d, pred));
    else takeGathered(await inp.recv(), all, origin, bytes, o, d, pred);
    if (s < n - 2) sendGathered(out, pending, gatherHeader(o, d, origin), all.subarray(origin * bytes, (origin + 1) * bytes));
  }
  for (let origin = 0; origin < n; origin++) codec.decodeInto(all.subarray(origin * bytes, (origin + 1) * bytes), buf, origin === 0 ? 'set' : 'add');
  await Promise.all(pending);
}

/**
 * Which latency path an allreduce of `bytes` takes, if any: 'chain' (chainAllreduce: 2(N-1) hops,
 * 2(N-1) frames in all) at N ≥ 3 up to chainBytes, else 'gather' (gatherSumAllreduce: N-1 hops,
 * N(N-1) frames) up to smallBytes while the N-1 vectors it brings in stay under 4× that, else
 * null (the ring). Both paths add in rank order, so they give the same bits. Every peer decides
 * alike (same sizes, same options); the frame headers catch a peer that does not.
 * RINGTRAIN_SMALL_ALGORITHM=gather|chain forces one of them wherever either would run.
 */
export function smallPath(n: number, bytes: number, smallBytes: number, chainBytes: number): 'gather' | 'chain' | null {
  const chain = n >= 3 && bytes <= chainBytes;
  const gather = bytes <= smallBytes && (n - 1) * bytes <= 4 * smallBytes;
  if (!chain && !gather) return null;
  if (FORCED_SMALL_ALGORITHM === 'chain' && n >= 3) return 'chain';
  if (FORCED_SMALL_ALGORITHM === 'gather' && gather) return 'gather';
  return chain ? 'chain' : 'gather';
}

/**
 * The other small-vector path: a chain reduce then a chain broadcast round the ring. Rank 0
 * sends its vector on, rank r adds its own and passes the partial sum on, rank N-1 ends with
 * ((x0 + x1) + x2) + … (the rank order of gatherSumAllreduce, and float addition is commutative,
 * so the same bits), and that sum goes on round the ring, N-1 ranks taking and forwarding it.
 * Twice the sequential hops of the gather, but each link carries at most two frames instead of
 * N-1, so 2(N-1) frames in all instead of N(N-1): when the peers share cores (N processes on a
 * laptop), every frame costs a wake-up and ~25 µs of Node CPU, and fewer frames win.
 *
 * buf is sent by reference and overwritten only by the broadcast, which comes back only after
 * the successor has taken the partial sum.
 */
async function chainAllreduce<T extends Float32Array | Float64Array>(links: RingLinks, buf: T, o: AllreduceOptions<T>): Promise<void> {
  const { rank: r, size: n, codec } = o;
  const d = buf.length;
  const out = links.toSuccessor;
  const inp = links.fromPredecessor;
  const pending: Promise<void>[] = [];
  const pred = mod(r - 1, n);
  const borrow = canRecvWith(inp) ? inp : null;
  const arena = arenaOf(buf.buffer);
  if (arena) borrow?.assembleIn?.(arena.staging);
  if (r > 0) {
    if (borrow) await borrow.recvWith((frame) => takeChained(frame, buf, o, chainHeader(o, d, Phase.reduceScatter, pred), pred, 'add'));
    else takeChained(await inp.recv(), buf, o, chainHeader(o, d, Phase.reduceScatter, pred), pred, 'add');
  }
  if (r < n - 1) {
    sendGathered(out, pending, chainHeader(o, d, Phase.reduceScatter, r), codec.encode(buf, { seed: o.seed, step: o.step, rank: r, chunk: 0, segment: 0 }));
    if (borrow) await borrow.recvWith((frame) => takeChained(frame, buf, o, chainHeader(o, d, Phase.allGather, n - 1), pred, 'set'));
    else takeChained(await inp.recv(), buf, o, chainHeader(o, d, Phase.allGather, n - 1), pred, 'set');
  }
  if (r !== n - 2) sendGathered(out, pending, chainHeader(o, d, Phase.allGather, n - 1), codec.encode(buf, { seed: o.seed, step: o.step, rank: r, chunk: 0, segment: 0 }));
  await Promise.all(pending);
}

function chainHeader<T extends Float32Array | Float64Array>(o: AllreduceOptions<T>, d: number, phase: PhaseId, origin: number): FrameHeader {
  return { codec: o.codec.id, phase, dtype: o.codec.dtype, generation: o.generation, step: o.step, chunk: 0, segment: 0, count: d, origin };
}

/** Checks a chained frame (a partial sum, or the final sum) and adds or copies it into buf. */
function takeChained<T extends Float32Array | Float64Array>(frame: Uint8Array, buf: T, o: AllreduceOptions<T>, want: FrameHeader, pred: number, mode: 'set' | 'add'): void {
  expectHeader(readHeader(frame), want, `rank ${pred}`);
  o.codec.decodeInto(payloadOf(frame), buf, mode);
}

function gatherHeader<T extends Float32Array | Float64Array>(o: AllreduceOptions<T>, d: number, origin: number): FrameHeader {
  return { codec: o.codec.id, phase: Phase.gatherEncoded, dtype: o.codec.dtype, generation: o.generation, step: o.step, chunk: 0, segment: 0, count: d, origin };
}

function sendGathered(out: SendLink, pending: Promise<void>[], h: FrameHeader, payload: Uint8Array): void {
  trackSend(pending, canSendFrame(out) ? out.sendFrame(h, payload) : out.send(buildFrame(h, payload)));
}

/** Checks a gathered vector's frame and files its bytes at its origin's place. */
function takeGathered<T extends Float32Array | Float64Array>(frame: Uint8Array, all: Uint8Array, origin: number, bytes: number, o: AllreduceOptions<T>, d: number, pred: number): void {
  const from = `rank ${pred}`;
  expectHeader(readHeader(frame), gatherHeader(o, d, origin), from);
  const payload = payloadOf(frame);
  if (payload.byteLength !== bytes) {
    throw new RingError('E_FRAME', `frame from ${from} carries ${payload.byteLength} bytes for ${d} values of ${bytes / d} bytes`);
  }
  all.set(payload, origin * bytes);
}

function chunkLength(d: number, n: number, c: number): number {
  const [a, b] = chunkRange(d, n, c);
  return b - a;
}

/** A ring of one still applies a lossy codec, so N=1 trains on the same arithmetic as N>1. */
function encodeOwnAndApply<T extends Float32Array | Float64Array>(
  buf: T,
  a: number,
  b: number,
  chunk: number,
  k: number,
  o: AllreduceOptions<T>,
): void {
  const bytes = o.codec.encode(buf.subarray(a, b) as T, {
    seed: o.seed,
    step: o.step,
    rank: o.rank,
    chunk,
    segment: k,
    residual: o.residual?.subarray(a, b),
  });
  o.codec.decodeInto(bytes, buf.subarray(a, b) as T, 'set');
}

/** One gather buffer per outgoing link (a link runs one collective at a time). */
const gatherScratchByLink = new WeakMap<object, Uint8Array>();
function gatherScratch(link: object, bytes: number): Uint8Array {
  let b = gatherScratchByLink.get(link);
  if (!b || b.byteLength < bytes) {
    b = new Uint8Array(bytes);
    gatherScratchByLink.set(link, b);
  }
  return b.subarray(0, bytes);
}
