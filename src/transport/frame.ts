import { RingError } from '../errors.js';

/**
 * Binary frame header for ring data. Every data frame starts with these 32 bytes:
 *
 *   0  u8  magic (0xA7)          8  u32 generation      24 u32 count (elements in the segment)
 *   1  u8  kind (1 = data)      12  u32 step            28 u32 origin (rank whose data this is;
 *   2  u8  codec id             16  u32 chunk                  allgather mode, else the sender)
 *   3  u8  phase                20  u32 segment
 *   4  u8  dtype (1 f32, 2 f64)
 *   5..7 reserved, zero
 *
 * `step` is the collective's sequence number within the generation: every allreduce the ring
 * runs (gradient, digest, loss) gets the next one, so a frame from another step can never be
 * summed by mistake. 32 bytes keep the payload 8-byte aligned relative to the frame start.
 */
export const FRAME_MAGIC = 0xa7;
export const HEADER_BYTES = 32;

export const FrameKind = { data: 1 } as const;
export const Phase = { reduceScatter: 0, allGather: 1, gatherEncoded: 2 } as const;
export type PhaseId = (typeof Phase)[keyof typeof Phase];
export const DType = { f32: 1, f64: 2 } as const;
export type DTypeId = (typeof DType)[keyof typeof DType];

export interface FrameHeader {
  codec: number;
  phase: PhaseId;
  dtype: DTypeId;
  generation: number;
  step: number;
  chunk: number;
  segment: number;
  count: number;
  origin: number;
}

export function writeHeader(frame: Uint8Array, h: FrameHeader): void {
  const v = new DataView(frame.buffer, frame.byteOffset, HEADER_BYTES);
  v.setUint8(0, FRAME_MAGIC);
  v.setUint8(1, FrameKind.data);
  v.setUint8(2, h.codec);
  v.setUint8(3, h.phase);
  v.setUint8(4, h.dtype);
  v.setUint8(5, 0);
  v.setUint16(6, 0, true);
  v.setUint32(8, h.generation, true);
  v.setUint32(12, h.step, true);
  v.setUint32(16, h.chunk, true);
  v.setUint32(20, h.segment, true);
  v.setUint32(24, h.count, true);
  v.setUint32(28, h.origin, true);
}

/** Builds a frame: header followed by a copy of the payload bytes. */
export function buildFrame(h: FrameHeader, payload: Uint8Array): Uint8Array {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.byteLength);
  writeHeader(frame, h);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/** Parses and sanity-checks a header; never trusts the bytes. */
export function readHeader(frame: Uint8Array): FrameHeader {
  if (frame.byteLength < HEADER_BYTES) {
    throw new RingError('E_FRAME', `frame of ${frame.byteLength} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  }
  const v = new DataView(frame.buffer, frame.byteOffset, HEADER_BYTES);
  if (v.getUint8(0) !== FRAME_MAGIC) throw new RingError('E_FRAME', `bad frame magic 0x${v.getUint8(0).toString(16)}`);
  if (v.getUint8(1) !== FrameKind.data) throw new RingError('E_FRAME', `unknown frame kind ${v.getUint8(1)}`);
  const phase = v.getUint8(3);
  if (phase > 2) throw new RingError('E_FRAME', `unknown phase ${phase}`);
  const dtype = v.getUint8(4);
  if (dtype !== DType.f32 && dtype !== DType.f64) throw new RingError('E_FRAME', `unknown dtype ${dtype}`);
  if (v.getUint8(5) !== 0 || v.getUint16(6, true) !== 0) throw new RingError('E_FRAME', 'reserved header bytes are not zero');
  return {
    codec: v.getUint8(2),
    phase: phase as PhaseId,
    dtype: dtype as DTypeId,
    generation: v.getUint32(8, true),
    step: v.getUint32(12, true),
    chunk: v.getUint32(16, true),
    segment: v.getUint32(20, true),
    count: v.getUint32(24, true),
    origin: v.getUint32(28, true),
  };
}

export function payloadOf(frame: Uint8Array): Uint8Array {
  return frame.subarray(HEADER_BYTES);
}

/** Throws E_FRAME_MISMATCH naming the first field that differs from what the ring expects. */
export function expectHeader(got: FrameHeader, want: FrameHeader, from: string): void {
  for (const key of ['generation', 'step', 'phase', 'chunk', 'segment', 'origin', 'codec', 'dtype', 'count'] as const) {
    if (got[key] !== want[key]) {
      throw new RingError(
        'E_FRAME_MISMATCH',
        `frame from ${from} has ${key}=${got[key]} but the ring expected ${key}=${want[key]} ` +
          `(generation ${want.generation}, step ${want.step}); peers are out of step or run different configs`,
        { got, want },
      );
    }
  }
}

/**
 * Optional link capabilities the ring uses when a link has them (WsLink does); they are not in
 * `Link` so that simple links (tests, other transports) stay two methods long.
 */
export interface FrameSend {
  /**
   * Sends header + payload as one frame without first concatenating them. The payload is sent by
   * reference: its bytes must not change until the promise resolves.
   */
  sendFrame(h: FrameHeader, payload: Uint8Array): Promise<void>;
}

export interface BorrowingRecv {
  /**
   * Receives the next frame and calls `use` with it synchronously; the view is valid only during
   * that call (it may be a reused buffer), so nothing that outlives the call may keep it.
   */
  recvWith<T>(use: (frame: Uint8Array) => T): Promise<T>;
  /**
   * Optional: assemble incoming frames in `staging` (a ring vector's wasm memory) where they fit,
   * so the vector's kernels add them in place; null returns to the link's own buffer.
   */
  assembleIn?(staging: Uint8Array | null): void;
}

export function canSendFrame<L extends object>(link: L): link is L & FrameSend {
  return typeof (link as Partial<FrameSend>).sendFrame === 'function';
}

export function canRecvWith<L extends object>(link: L): link is L & BorrowingRecv {
  return typeof (link as Partial<BorrowingRecv>).recvWith === 'function';
}
