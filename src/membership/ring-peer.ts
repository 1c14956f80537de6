import { WebSocketServer, WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { RingError } from '../errors.js';
import { WsLink, CloseCodes } from '../transport/ws-link.js';
import { decodeControl, encodeControl, PROTOCOL_VERSION, type ControlMsg } from '../config/messages.js';
import { ringAllreduce, type AllreduceOptions, type RingLinks } from '../collective/ring-allreduce.js';
import { allgatherReduce } from '../collective/allgather-reduce.js';
import { sharedScaleAllreduce } from '../collective/shared-scale.js';
import { f32Codec, f64Codec, type SegmentCodec } from '../collective/segment-codec.js';
import type { Codec } from '../codec/codec.js';
import { handshakeMac, macEquals, newNonce } from './handshake.js';

export interface RingPeerOptions {
  rank: number;
  size: number;
  listenHost: string;
  /** 0 = any free port (read `port` after listen). */
  listenPort: number;
  secret: string;
  /** Hash of the training config; neighbours with another hash are refused. */
  configHash: string;
  connectTimeoutMs: number;
  recvTimeoutMs: number;
  maxFrameBytes: number;
  segmentBytes: number;
  seed: number;
  /** Codec for Float32Array allreduces; Float64Array ones are always exact. */
  codec: Codec;
  /** How a lossy codec crosses the ring: re-encode at every hop, or allgather encoded vectors. */
  mode?: 'requantize' | 'allgather';
  /** QSGD levels for the shared-scale codec. */
  levels?: number;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

export interface PeerAddressLike {
  host: string;
  port: number;
}

const HANDSHAKE_TIMEOUT_MS = 10_000;

/** A ring of one never touches its links. */
const NO_LINKS: RingLinks = {
  toSuccessor: { send: () => Promise.reject(new RingError('E_INTERNAL', 'a ring of one has no successor')), bytesSent: 0 },
  fromPredecessor: { recv: () => Promise.reject(new RingError('E_INTERNAL', 'a ring of one has no predecessor')), bytesReceived: 0 },
};

/**
 * One member of the ring: listens for its successor (data flows listener → dialer, so frames
 * from the sender are unmasked), dials its predecessor, authenticates both links, and runs
 * collectives over them. Step numbers advance with every collective so frames can never mix.
 */
export class RingPeer {
  private server: WebSocketServer | null = null;
  private toSuccessor: WsLink | null = null;
  private fromPredecessor: WsLink | null = null;
  private successorReady!: Promise<WsLink>;
  private step = 0;
  generation = 0;
  private readonly codecF32: SegmentCodec<Float32Array>;
  private closed = false;
  private fatal: RingError | null = null;

  private constructor(readonly opts: RingPeerOptions) {
    this.codecF32 = f32Codec(opts.codec);
  }

  get rank(): number {
    return this.opts.rank;
  }
  get size(): number {
    return this.opts.size;
  }
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }
  get bytesSent(): number {
    return (this.toSuccessor?.bytesSent ?? 0) + (this.fromPredecessor?.bytesSent ?? 0);
  }
  get bytesReceived(): number {
    return (this.toSuccessor?.bytesReceived ?? 0) + (this.fromPredecessor?.bytesReceived ?? 0);
  }

  private log(event: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(event, fields);
  }

  /** Binds the listening socket. Errors: E_PORT_IN_USE, or any listen failure as E_PEER_LOST. */
  static async listen(opts: RingPeerOptions): Promise<RingPeer> {
    const peer = new RingPeer(opts);
    if (opts.size === 1) return peer;
    await peer.startServer();
    return peer;
  }

  private startServer(): Promise<void> {
    const { listenHost, listenPort, maxFrameBytes } = this.opts;
    let resolveSuccessor!: (l: WsLink) => void;
    let rejectSuccessor!: (e: Error) => void;
    this.successorReady = new Promise((res, rej) => {
      resolveSuccessor = res;
      rejectSuccessor = rej;
    });
    this.successorReady.catch(() => undefined);
    return new Promise((resolve, reject) => {
      const server = new WebSocketServer({ host: listenHost, port: listenPort, maxPayload: maxFrameBytes, perMessageDeflate: false });
      this.server = server;
      server.once('listening', () => resolve());
      server.on('error', (err: NodeJS.ErrnoException) => {
        const e =
          err.code === 'EADDRINUSE'
            ? new RingError('E_PORT_IN_USE', `port ${listenPort} on ${listenHost} is already in use (another peer or program holds it); free it or change peers[${this.rank}].port`)
            : new RingError('E_PEER_LOST', `cannot listen on ${listenHost}:${listenPort}: ${err.message}`);
        reject(e);
        rejectSuccessor(e);
      });
      server.on('connection', (ws, req) => {
        const who = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
        this.acceptSuccessor(ws, who).then(
          (link) => resolveSuccessor(link),
          (e: RingError) => this.log('refused', { from: who, code: e.code, reason: e.message }),
        );
      });
    });
  }

  /** Listener side of the handshake: challenge → hello (checked) → welcome. */
  private async acceptSuccessor(ws: WebSocket, who: string): Promise<WsLink> {
    const expectRank = (this.rank + 1) % this.size;
    const link = new WsLink(ws, `rank ${expectRank} (${who})`, this.opts.recvTimeoutMs);
    const nonce = newNonce();
    const refuse = (code: 'E_AUTH' | 'E_HANDSHAKE', reason: string): RingError => {
      link.sendControl(encodeControl({ t: 'refuse', code, reason }));
      link.close(code === 'E_AUTH' ? CloseCodes.auth : CloseCodes.mismatch, code);
      return new RingError(code, reason);
    };
    if (this.toSuccessor) throw refuse('E_HANDSHAKE', `rank ${this.rank} already has a successor`);
    link.sendControl(encodeControl({ t: 'challenge', nonce, rank: this.rank, version: PROTOCOL_VERSION }));
    const hello = await nextControl(link, 'hello', HANDSHAKE_TIMEOUT_MS);
    if (hello.t !== 'hello') throw refuse('E_HANDSHAKE', 'expected hello');
    if (hello.version !== PROTOCOL_VERSION) throw refuse('E_HANDSHAKE', `protocol version ${hello.version}, this peer speaks ${PROTOCOL_VERSION}`);
    const wantMac = handshakeMac(this.opts.secret, nonce, hello.rank, this.opts.configHash, 'dialer');
    if (!macEquals(hello.mac, wantMac)) {
      throw refuse('E_AUTH', `peer at ${who} failed authentication (wrong or missing secret)`);
    }
    if (hello.size !== this.size) throw refuse('E_HANDSHAKE', `peer at ${who} thinks the ring has ${hello.size} peers, this one ${this.size}`);
    if (hello.rank !== expectRank) throw refuse('E_HANDSHAKE', `peer at ${who} says it is rank ${hello.rank}, but rank ${this.rank}'s successor is rank ${expectRank}`);
    if (hello.configHash !== this.opts.configHash) {
      throw refuse('E_HANDSHAKE', `rank ${hello.rank} runs a different config (hash ${hello.configHash.slice(0, 12)} vs ${this.opts.configHash.slice(0, 12)}); give every peer the same ring.config.json and flags`);
    }
    if (this.toSuccessor) throw refuse('E_HANDSHAKE', `rank ${this.rank} already has a successor`);
    link.sendControl(encodeControl({ t: 'welcome', mac: handshakeMac(this.opts.secret, hello.nonce, this.rank, this.opts.configHash, 'listener') }));
    this.toSuccessor = link;
    link.onFailure = (e) => this.onLinkFailure(e);
    this.log('successor-connected', { rank: expectRank, from: who });
    return link;
  }

  /** Dials the predecessor (retrying until connectTimeoutMs), handshakes, and waits for our successor. */
  async join(predecessor: PeerAddressLike): Promise<void> {
    if (this.size === 1) return;
    const deadline = Date.now() + this.opts.connectTimeoutMs;
    const predRank = (this.rank - 1 + this.size) % this.size;
    this.fromPredecessor = await this.dialPredecessor(predecessor, predRank, deadline);
    this.fromPredecessor.onFailure = (e) => this.onLinkFailure(e);
    const remaining = Math.max(1, deadline - Date.now());
    const succRank = (this.rank + 1) % this.size;
    await withTimeout(
      this.successorReady,
      remaining,
      () => new RingError('E_PEER_TIMEOUT', `rank ${succRank} did not connect to rank ${this.rank} within ${this.opts.connectTimeoutMs} ms; is it started, with the same config, and can it reach port ${this.port}?`),
    );
    // Readiness barrier: a tiny allreduce only completes once every link in the ring is up.
    const one = new Float64Array([1]);
    await this.allreduce(one);
    if (one[0] !== this.size) throw new RingError('E_HANDSHAKE', `ring barrier counted ${one[0]} peers, expected ${this.size}`);
    this.log('ring-ready', { size: this.size });
  }

  private async dialPredecessor(addr: PeerAddressLike, predRank: number, deadline: number): Promise<WsLink> {
    const url = `ws://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
    let lastErr = '';
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new RingError('E_PEER_LOST', 'peer closed while dialling');
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: this.opts.maxFrameBytes, handshakeTimeout: 5000 });
      // The link (and its message listener) exists before 'open': the listener's challenge can
      // arrive in the same TCP segment as the upgrade response.
      const link = new WsLink(ws, `rank ${predRank} (${addr.host}:${addr.port})`, this.opts.recvTimeoutMs);
      const challenge = nextControl(link, 'challenge', HANDSHAKE_TIMEOUT_MS);
      challenge.catch(() => undefined);
      const opened = await new Promise<string | null>((resolve) => {
        ws.once('open', () => resolve(null));
        ws.once('error', (e: Error) => resolve(e.message));
      });
      if (opened === null) return this.greetPredecessor(link, predRank, challenge);
      ws.terminate();
      lastErr = opened;
      if (Date.now() + 200 > deadline) {
        throw new RingError('E_PEER_TIMEOUT', `rank ${predRank} at ${addr.host}:${addr.port} did not come up within ${this.opts.connectTimeoutMs} ms (last error: ${lastErr}); start it, or check host/port in ring.config.json`);
      }
      await sleep(Math.min(50 * 2 ** Math.min(attempt, 3), 400));
    }
  }

  /** Dialer side of the handshake: challenge → hello → welcome (its MAC checked) or refuse. */
  private async greetPredecessor(link: WsLink, predRank: number, challengeP: Promise<ControlMsg>): Promise<WsLink> {
    const challenge = await challengeP;
    if (challenge.t !== 'challenge') throw new RingError('E_HANDSHAKE', 'expected challenge');
    if (challenge.rank !== predRank) {
      link.close(CloseCodes.mismatch, 'wrong rank');
      throw new RingError('E_HANDSHAKE', `expected rank ${predRank} at ${link.peerName}, found rank ${challenge.rank}; check the peers list in ring.config.json`);
    }
    const nonce = newNonce();
    link.sendControl(
      encodeControl({
        t: 'hello',
        rank: this.rank,
        size: this.size,
        configHash: this.opts.configHash,
        generation: this.generation,
        nonce,
        mac: handshakeMac(this.opts.secret, challenge.nonce, this.rank, this.opts.configHash, 'dialer'),
        version: PROTOCOL_VERSION,
      }),
    );
    const reply = await nextControl(link, 'welcome', HANDSHAKE_TIMEOUT_MS);
    if (reply.t === 'refuse') {
      throw new RingError(reply.code === 'E_AUTH' ? 'E_AUTH' : 'E_HANDSHAKE', `rank ${predRank} refused rank ${this.rank}: ${reply.reason}`);
    }
    if (reply.t !== 'welcome') throw new RingError('E_HANDSHAKE', `expected welcome from rank ${predRank}`);
    const want = handshakeMac(this.opts.secret, nonce, predRank, this.opts.configHash, 'listener');
    if (!macEquals(reply.mac, want)) {
      link.close(CloseCodes.auth, 'E_AUTH');
      throw new RingError('E_AUTH', `rank ${predRank} at ${link.peerName} could not prove it knows the shared secret`);
    }
    this.log('predecessor-connected', { rank: predRank });
    return link;
  }

  private onLinkFailure(e: RingError): void {
    if (this.closed) return;
    if (!this.fatal) this.fatal = e;
  }

  /**
   * Sums v across the ring in place; every peer ends with identical bytes.
   * Float64Array travels exactly; Float32Array uses the configured codec (with `residual` as
   * its error-feedback memory when the codec is lossy).
   */
  async allreduce(v: Float32Array | Float64Array, residual?: Float32Array): Promise<void> {
    if (v instanceof Float64Array) {
      await ringAllreduce(this.links(), v, { ...this.position(), codec: f64Codec, segmentElems: this.opts.segmentBytes >> 3 });
      return;
    }
    if (this.opts.codec.name === 'shared') {
      const key = { seed: this.opts.seed, step: this.step };
      await sharedScaleAllreduce(
        {
          rank: this.rank,
          size: this.size,
          allreduceF64: (x) => this.allreduce(x),
          allreduceIntegers: (x) => ringAllreduce(this.links(), x, { ...this.position(), codec: this.codecF32, segmentElems: this.opts.segmentBytes >> 2 }),
        },
        v,
        this.opts.levels ?? 1,
        key,
        residual,
      );
      return;
    }
    const o: AllreduceOptions<Float32Array> = { ...this.position(), codec: this.codecF32, segmentElems: this.opts.segmentBytes >> 2, residual };
    if (this.opts.mode === 'allgather') await allgatherReduce(this.size === 1 ? null : this.links(), v, o);
    else await ringAllreduce(this.links(), v, o);
  }

  /** The collective counter: checkpoints record it so a resumed ring replays the same frames and PRNG keys. */
  get collectiveStep(): number {
    return this.step;
  }

  /** Every peer must restore the same value at the same point (after the resume agreement). */
  restoreCollectiveStep(step: number): void {
    this.step = step;
  }

  /** Claims the next step number: every collective gets its own, on every peer alike. */
  private position() {
    if (this.fatal) throw this.fatal;
    return { rank: this.rank, size: this.size, generation: this.generation, step: this.step++, seed: this.opts.seed };
  }

  private links(): RingLinks {
    if (this.size === 1) return NO_LINKS;
    return { toSuccessor: this.toSuccessor!, fromPredecessor: this.fromPredecessor! };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.toSuccessor?.close(CloseCodes.normal, 'done');
    this.fromPredecessor?.close(CloseCodes.normal, 'done');
    if (this.server) {
      const server = this.server;
      for (const c of server.clients) c.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}

function nextControl(link: WsLink, want: string, timeoutMs: number): Promise<ControlMsg> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new RingError('E_HANDSHAKE', `no ${want} from ${link.peerName} within ${timeoutMs} ms`)), timeoutMs);
    const prevFailure = link.onFailure;
    link.onFailure = (e) => {
      clearTimeout(timer);
      link.onFailure = prevFailure;
      reject(e);
    };
    link.onControl = (body) => {
      clearTimeout(timer);
      link.onControl = null;
      link.onFailure = prevFailure;
      try {
        resolve(decodeControl(body, link.peerName));
      } catch (e) {
        link.reject(e as RingError);
        reject(e);
      }
    };
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
