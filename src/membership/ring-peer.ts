import { WebSocketServer, WebSocket, type ClientOptions } from 'ws';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { RingError } from '../errors.js';
import { WsLink, CloseCodes } from '../transport/ws-link.js';
import { decodeControl, encodeControl, PROTOCOL_VERSION, type ControlMsg } from '../config/messages.js';
import { CHAIN_ALLREDUCE_BYTES, ringAllreduce, type AllreduceOptions, type RingLinks } from '../collective/ring-allreduce.js';
import { isLoopback } from '../config/hosts.js';
import { allgatherReduce } from '../collective/allgather-reduce.js';
import { sharedScaleAllreduce } from '../collective/shared-scale.js';
import { DEFAULT_SHARED_LEVELS } from '../codec/shared.js';
import { f32Codec, f64Codec, type SegmentCodec } from '../collective/segment-codec.js';
import type { Codec } from '../codec/codec.js';
import { handshakeMac, macEquals, newNonce } from './handshake.js';
import { allocRingVector, ringResidualOf } from '../codec/simd.js';
import { HEADER_BYTES } from '../transport/frame.js';

export interface RingPeerOptions {
  /** This peer's id: its rank in the config. Its place in the current ring may differ after failures. */
  rank: number;
  /** Peers in the config (the first generation's ring size). */
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
  /** wss://: PEM certificate and key this peer serves, and the CA that signed its neighbours' certificates. */
  tls?: { cert: string; key: string; ca: string };
}

export interface PeerAddressLike {
  host: string;
  port: number;
}

const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a re-forming peer tries one candidate predecessor before it counts it as gone. */
const REFORM_DIAL_MS = 1500;
/** After losing its successor, how long a peer keeps reading from its predecessor (see onLinkFailure). */
const SUCCESSOR_LOSS_GRACE_MS = 1000;

/** A ring of one never touches its links. */
const NO_LINKS: RingLinks = {
  toSuccessor: { send: () => Promise.reject(new RingError('E_INTERNAL', 'a ring of one has no successor')), bytesSent: 0 },
  fromPredecessor: { recv: () => Promise.reject(new RingError('E_INTERNAL', 'a ring of one has no predecessor')), bytesReceived: 0 },
};

interface Waiting<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

/**
 * One member of the ring: listens for its successor (data flows listener → dialer, so frames
 * from the sender are unmasked), dials its predecessor, authenticates both links, and runs
 * collectives over them. Step numbers advance with every collective so frames can never mix.
 *
 * Membership is by generation. Generation 0 is the configured ring. When a link fails, the peer
 * tears down both of its links (after losing only its successor, once it has had up to a second
 * to finish reading what its predecessor sent), so the failure reaches every peer within a few
 * hops; each then
 * calls reform(): dial the nearest live predecessor (by id, skipping peers that refuse), accept
 * whoever dials in for the new generation, and pass ids around once (census) so every survivor
 * learns the same member list. A restarted peer asks to join with intent 'join'; the ring lets it
 * in at a step boundary of its choosing (see joinRequested) by re-forming with it.
 */
export class RingPeer {
  private server: WebSocketServer | null = null;
  private https: HttpsServer | null = null;
  private toSuccessor: WsLink | null = null;
  private fromPredecessor: WsLink | null = null;
  /** Dialled-in successor links by generation, until the ring takes them. */
  private incoming = new Map<number, WsLink>();
  private incomingWaiters = new Map<number, Waiting<WsLink>>();
  /** Links of peers that asked to join, waiting for the next re-form. */
  private joiners: WsLink[] = [];
  private census: { generation: number; ids: Set<number>; done: Waiting<number[]> | null; early: number[] } | null = null;
  private addresses: PeerAddressLike[] = [];
  /** Chain path limit for small allreduces: on when every configured peer is on loopback. */
  private chainBytes = 0;
  /** A restarted peer waiting to be let in: it refuses crash-recovery dials, which are not for it. */
  private joining = false;
  private step = 0;
  generation = 0;
  /** Ids in the current ring, ascending; our position is members.indexOf(id). */
  private members: number[];
  private readonly codecF32: SegmentCodec<Float32Array>;
  private closed = false;
  private fatal: RingError | null = null;
  private bytesSentOld = 0;
  private bytesReceivedOld = 0;
  /** Pending teardown of the predecessor link after the successor was lost. */
  private teardown: NodeJS.Timeout | null = null;
  /** Generations whose successor link has been taken: a second dialer for one is refused. */
  private claimed = new Set<number>();

  private constructor(readonly opts: RingPeerOptions) {
    this.codecF32 = f32Codec(opts.codec);
    this.members = Array.from({ length: opts.size }, (_, i) => i);
  }

  /** This peer's id (config rank). */
  get id(): number {
    return this.opts.rank;
  }
  /** Position in the current ring (what collectives use as the rank). */
  get rank(): number {
    return this.members.indexOf(this.opts.rank);
  }
  /** Peers in the current ring. */
  get size(): number {
    return this.members.length;
  }
  get memberIds(): readonly number[] {
    return this.members;
  }
  get port(): number {
    return ((this.https ?? this.server)?.address() as AddressInfo | null)?.port ?? 0;
  }
  get bytesSent(): number {
    return this.bytesSentOld + (this.toSuccessor?.bytesSent ?? 0) + (this.fromPredecessor?.bytesSent ?? 0);
  }
  get bytesReceived(): number {
    return this.bytesReceivedOld + (this.toSuccessor?.bytesReceived ?? 0) + (this.fromPredecessor?.bytesReceived ?? 0);
  }
  /** A peer has asked to join; the ring should re-form at the next step boundary it agrees on. */
  get joinRequested(): boolean {
    return this.joiners.length > 0;
  }

  private log(event: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(event, fields);
  }

  /** Binds the listening socket. Errors: E_PORT_IN_USE, or any listen failure as E_PEER_LOST. */
  static async listen(opts: RingPeerOptions): Promise<RingPeer> {
    const peer = new RingPeer(opts);
    await peer.startServer();
    return peer;
  }

  private startServer(): Promise<void> {
    const { listenHost, listenPort, maxFrameBytes } = this.opts;
    return new Promise((resolve, reject) => {
      const tls = this.opts.tls;
      // With TLS, an https server carries the WebSocket upgrade; without, ws listens itself.
      const https = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : null;
      const server = https
        ? new WebSocketServer({ server: https, maxPayload: maxFrameBytes, perMessageDeflate: false })
        : new WebSocketServer({ host: listenHost, port: listenPort, maxPayload: maxFrameBytes, perMessageDeflate: false });
      this.server = server;
      this.https = https;
      if (https) {
        https.once('listening', () => resolve());
        https.on('error', (err: NodeJS.ErrnoException) => server.emit('error', err));
        https.listen(listenPort, listenHost);
      } else server.once('listening', () => resolve());
      server.on('error', (err: NodeJS.ErrnoException) => {
        const e =
          err.code === 'EADDRINUSE'
            ? new RingError('E_PORT_IN_USE', `port ${listenPort} on ${listenHost} is already in use (another peer or program holds it); free it or change peers[${this.id}].port`)
            : new RingError('E_PEER_LOST', `cannot listen on ${listenHost}:${listenPort}: ${err.message}`);
        reject(e);
      });
      server.on('connection', (ws, req) => {
        const who = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
        this.acceptDialer(ws, who).catch((e: RingError) => this.log('refused', { from: who, code: e.code, reason: e.message }));
      });
    });
  }

  /** Listener side of the handshake: challenge → hello (checked) → welcome, then file the link. */
  private async acceptDialer(ws: WebSocket, who: string): Promise<void> {
    // No receive timeout: this side of a link never waits for data (see refuseDataFrames).
    const link = new WsLink(ws, `peer at ${who}`, 0);
    refuseDataFrames(link, ws);
    const nonce = newNonce();
    const refuse = (code: 'E_AUTH' | 'E_HANDSHAKE', reason: string): RingError => {
      link.sendControl(encodeControl({ t: 'refuse', code, reason }));
      link.close(code === 'E_AUTH' ? CloseCodes.auth : CloseCodes.mismatch, code);
      return new RingError(code, reason);
    };
    if (this.closed) throw refuse('E_HANDSHAKE', `peer ${this.id} is shutting down`);
    link.sendControl(encodeControl({ t: 'challenge', nonce, rank: this.id, version: PROTOCOL_VERSION }));
    const hello = await nextControl(link, 'hello', HANDSHAKE_TIMEOUT_MS).catch((e: RingError) => {
      // No hello in time: close the link with a code instead of leaving it open for ever.
      throw e.code === 'E_HANDSHAKE' ? refuse('E_HANDSHAKE', e.message) : e;
    });
    if (hello.t !== 'hello') throw refuse('E_HANDSHAKE', 'expected hello');
    if (hello.version !== PROTOCOL_VERSION) throw refuse('E_HANDSHAKE', `protocol version ${hello.version}, this peer speaks ${PROTOCOL_VERSION}`);
    // The MAC covers the hash the dialer claims, so a different config is reported as such below
    // (checked against our own hash, it would look like a wrong secret).
    const wantMac = handshakeMac(this.opts.secret, nonce, hello.rank, hello.configHash, 'dialer');
    if (!macEquals(hello.mac, wantMac)) throw refuse('E_AUTH', `peer at ${who} failed authentication (wrong or missing secret)`);
    if (hello.size !== this.opts.size) throw refuse('E_HANDSHAKE', `peer at ${who} thinks the ring has ${hello.size} peers, this one ${this.opts.size}`);
    if (hello.rank >= this.opts.size || hello.rank === this.id) throw refuse('E_HANDSHAKE', `peer at ${who} claims rank ${hello.rank}, which is not another rank of this ring`);
    if (hello.configHash !== this.opts.configHash) {
      throw refuse('E_HANDSHAKE', `rank ${hello.rank} runs a different config or training data (hash ${hello.configHash.slice(0, 12)} vs ${this.opts.configHash.slice(0, 12)}); give every peer the same ring.config.json, flags and data files`);
    }
    if (hello.intent === 'probe') {
      // `ringtrain doctor`: secret and config match. Prove it back and hang up; nothing is kept.
      link.sendControl(encodeControl({ t: 'welcome', mac: handshakeMac(this.opts.secret, hello.nonce, this.id, this.opts.configHash, 'listener') }));
      link.close(CloseCodes.normal, 'probe');
      return;
    }
    if (hello.intent === 'ring') {
      const g = hello.generation;
      if (this.joining && !hello.admit) throw refuse('E_HANDSHAKE', `rank ${this.id} is rejoining and not yet a member of generation ${g}`);
      const expected = g === 0 ? (this.id + 1) % this.opts.size : -1;
      if (g === 0 && hello.rank !== expected) throw refuse('E_HANDSHAKE', `peer at ${who} says it is rank ${hello.rank}, but rank ${this.id}'s successor is rank ${expected}`);
      if (g < this.generation || this.incoming.has(g) || this.claimed.has(g)) throw refuse('E_HANDSHAKE', `rank ${this.id} already has a successor for generation ${g}`);
    }
    link.sendControl(encodeControl({ t: 'welcome', mac: handshakeMac(this.opts.secret, hello.nonce, this.id, this.opts.configHash, 'listener') }));
    (link as { peerName: string }).peerName = `rank ${hello.rank} (${who})`;
    if (hello.intent === 'join') {
      this.joiners.push(link);
      link.onFailure = () => (this.joiners = this.joiners.filter((j) => j !== link));
      this.log('join-request', { rank: hello.rank, from: who });
      return;
    }
    link.onControl = (body) => this.onControl(link, body);
    const w = this.incomingWaiters.get(hello.generation);
    if (w) {
      this.incomingWaiters.delete(hello.generation);
      this.claimed.add(hello.generation);
      w.resolve(link);
    } else {
      this.incoming.set(hello.generation, link);
    }
    this.log('successor-connected', { rank: hello.rank, generation: hello.generation, from: who });
  }

  private takeIncoming(generation: number, timeoutMs: number, what: () => RingError): Promise<WsLink> {
    const ready = this.incoming.get(generation);
    if (ready) {
      this.incoming.delete(generation);
      this.claimed.add(generation);
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.incomingWaiters.delete(generation);
        reject(what());
      }, timeoutMs);
      this.incomingWaiters.set(generation, {
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /**
   * Generation 0: dials its predecessor (retrying until connectTimeoutMs), waits for its
   * successor, then a readiness barrier proves the whole ring is up.
   */
  async join(addresses: PeerAddressLike[]): Promise<void> {
    this.addresses = addresses;
    this.chainBytes = addresses.every((a) => isLoopback(a.host)) ? CHAIN_ALLREDUCE_BYTES : 0;
    if (this.opts.size === 1) return;
    const deadline = Date.now() + this.opts.connectTimeoutMs;
    const predId = (this.id - 1 + this.opts.size) % this.opts.size;
    const pred = await this.dial(predId, deadline, 0, 'ring', true);
    if (!pred) throw new RingError('E_INTERNAL', 'dial returned no link');
    this.setPredecessor(pred);
    const succId = (this.id + 1) % this.opts.size;
    this.setSuccessor(
      await this.takeIncoming(
        0,
        Math.max(1, deadline - Date.now()),
        () => new RingError('E_PEER_TIMEOUT', `rank ${succId} did not connect to rank ${this.id} within ${this.opts.connectTimeoutMs} ms; is it started, with the same config, and can it reach port ${this.port}?`),
      ),
    );
    await this.barrier();
    this.log('ring-ready', { size: this.size, generation: this.generation });
  }

  private async barrier(): Promise<void> {
    const one = new Float64Array([1]);
    await this.allreduce(one);
    if (one[0] !== this.size) throw new RingError('E_HANDSHAKE', `ring barrier counted ${one[0]} peers, expected ${this.size}`);
  }

  private setPredecessor(link: WsLink): void {
    this.fromPredecessor = link;
    link.onFailure = (e) => this.onLinkFailure(e, 'predecessor');
    link.onControl = (body) => this.onControl(link, body);
  }

  private setSuccessor(link: WsLink): void {
    this.toSuccessor = link;
    link.onFailure = (e) => this.onLinkFailure(e, 'successor');
  }

  /**
   * Dials peer `id`. With `persist`, keeps retrying until the deadline (the peer may still be
   * starting); without, a refusal means the peer is gone and null is returned.
   */
  private async dial(id: number, deadline: number, generation: number, intent: 'ring' | 'join', persist: boolean, admit = false): Promise<WsLink | null> {
    const addr = this.addresses[id];
    const tls = this.opts.tls;
    const url = `${tls ? 'wss' : 'ws'}://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
    // Peers are addressed by IP from the config, so the certificate is checked against the ring's
    // CA, not a host name; who the peer is, the HMAC handshake proves.
    const tlsOpts = (tls ? { ca: tls.ca, checkServerIdentity: () => undefined } : {}) as ClientOptions;
    let lastErr = '';
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new RingError('E_PEER_LOST', 'peer closed while dialling');
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: this.opts.maxFrameBytes, handshakeTimeout: 5000, ...tlsOpts });
      // The link (and its message listener) exists before 'open': the listener's challenge can
      // arrive in the same TCP segment as the upgrade response.
      const link = new WsLink(ws, `rank ${id} (${addr.host}:${addr.port})`, this.opts.recvTimeoutMs);
      const challenge = nextControl(link, 'challenge', HANDSHAKE_TIMEOUT_MS);
      challenge.catch(() => undefined);
      const opened = await new Promise<string | null>((resolve) => {
        ws.once('open', () => resolve(null));
        ws.once('error', (e: Error) => resolve(e.message));
      });
      if (opened === null) {
        return this.greet(link, id, challenge, generation, intent, admit).catch((e: RingError) => {
          // A failed handshake closes its link with a code (the listener may not).
          link.close(e.code === 'E_AUTH' ? CloseCodes.auth : e.code === 'E_HANDSHAKE' ? CloseCodes.mismatch : CloseCodes.badFrame, e.code);
          throw e;
        });
      }
      ws.terminate();
      lastErr = opened;
      if (Date.now() + 200 > deadline) {
        if (!persist) return null;
        throw new RingError('E_PEER_TIMEOUT', `rank ${id} at ${addr.host}:${addr.port} did not come up within ${this.opts.connectTimeoutMs} ms (last error: ${lastErr}); start it, or check host/port in ring.config.json`);
      }
      await sleep(Math.min(50 * 2 ** Math.min(attempt, 3), 400));
    }
  }

  /** Dialer side of the handshake: challenge → hello → welcome (its MAC checked) or refuse. */
  private async greet(link: WsLink, id: number, challengeP: Promise<ControlMsg>, generation: number, intent: 'ring' | 'join', admit: boolean): Promise<WsLink> {
    const challenge = await challengeP;
    if (challenge.t !== 'challenge') throw new RingError('E_HANDSHAKE', 'expected challenge');
    if (challenge.rank !== id) {
      link.close(CloseCodes.mismatch, 'wrong rank');
      throw new RingError('E_HANDSHAKE', `expected rank ${id} at ${link.peerName}, found rank ${challenge.rank}; check the peers list in ring.config.json`);
    }
    const nonce = newNonce();
    link.sendControl(
      encodeControl({
        t: 'hello',
        rank: this.id,
        size: this.opts.size,
        configHash: this.opts.configHash,
        generation,
        nonce,
        mac: handshakeMac(this.opts.secret, challenge.nonce, this.id, this.opts.configHash, 'dialer'),
        version: PROTOCOL_VERSION,
        intent,
        admit,
      }),
    );
    const reply = await nextControl(link, 'welcome', HANDSHAKE_TIMEOUT_MS);
    if (reply.t === 'refuse') {
      throw new RingError(reply.code === 'E_AUTH' ? 'E_AUTH' : 'E_HANDSHAKE', `rank ${id} refused rank ${this.id}: ${reply.reason}`);
    }
    if (reply.t !== 'welcome') throw new RingError('E_HANDSHAKE', `expected welcome from rank ${id}`);
    const want = handshakeMac(this.opts.secret, nonce, id, this.opts.configHash, 'listener');
    if (!macEquals(reply.mac, want)) {
      link.close(CloseCodes.auth, 'E_AUTH');
      throw new RingError('E_AUTH', `rank ${id} at ${link.peerName} could not prove it knows the shared secret`);
    }
    this.log('predecessor-connected', { rank: id, generation });
    return link;
  }

  /** Control messages after the handshake (census during a re-form). Anything else is a protocol error. */
  private onControl(link: WsLink, body: Uint8Array): void {
    const msg = decodeControl(body, link.peerName);
    if (msg.t === 'census') {
      this.onCensus(msg.generation, msg.id);
      return;
    }
    throw new RingError('E_FRAME', `unexpected '${msg.t}' message from ${link.peerName}`);
  }

  private onLinkFailure(e: RingError, which: 'successor' | 'predecessor'): void {
    if (this.closed) return;
    if (!this.fatal) {
      this.fatal = e;
      this.log('link-failed', { code: e.code, reason: e.message, link: which });
    }
    if (which === 'predecessor') {
      // Nothing more can arrive: tear down both links so our successor notices too. The abort
      // travels the ring and no peer is left waiting on a frame that will never come.
      this.dropLinks();
      return;
    }
    // The successor is gone, so the ring must re-form (new collectives fail on `fatal`, a send to
    // it fails at once). But the collective in progress may only be waiting for frames our
    // predecessor has already sent: a successor that finished the last collective of a step
    // first and left for an agreed re-form (admitting a joiner) must not abort it here, or this
    // peer would take the failure path while the others admit. So the predecessor link is torn
    // down (and the failure passed on) after a short grace, or at the re-form, whichever is first.
    this.dropLink(this.toSuccessor);
    this.toSuccessor = null;
    if (!this.teardown) {
      this.teardown = setTimeout(() => this.dropLinks(), SUCCESSOR_LOSS_GRACE_MS);
      this.teardown.unref();
    }
  }

  private dropLinks(): void {
    if (this.teardown) clearTimeout(this.teardown);
    this.teardown = null;
    this.dropLink(this.toSuccessor);
    this.dropLink(this.fromPredecessor);
    this.toSuccessor = null;
    this.fromPredecessor = null;
  }

  private dropLink(l: WsLink | null): void {
    if (!l) return;
    this.bytesSentOld += l.bytesSent;
    this.bytesReceivedOld += l.bytesReceived;
    l.onFailure = null;
    l.terminate();
  }

  /** The failure that broke the ring, if any (cleared by reform). */
  get failure(): RingError | null {
    return this.fatal;
  }

  /**
   * Re-forms the ring as the next generation with every live peer (and any peer waiting to join):
   * dial the nearest live predecessor by id, accept the new successor, then a census tells every
   * member the same list. Collective step numbers restart at 0 in the new generation.
   */
  async reform(admit = false): Promise<{ generation: number; members: number[] }> {
    const generation = this.generation + 1;
    this.dropLinks();
    // Tell waiting joiners which generation to dial in for; they then act like any re-forming peer.
    // Only an admitting re-form does: its members dial with `admit`, which a joiner accepts. A
    // recovery re-form's dials carry no `admit`, so a joiner ack'ed into it could be refused by
    // the peer meant to dial it and be left without a successor; its request waits for the next
    // step boundary instead.
    if (admit) {
      for (const j of this.joiners) {
        j.sendControl(encodeControl({ t: 'join-ack', generation }));
        j.close(CloseCodes.normal, 'join');
      }
      this.joiners = [];
    }
    // Admitting a joiner: the peers being dialled are all alive, so give slow ones longer.
    return this.formGeneration(generation, admit ? REFORM_DIAL_MS * 4 : REFORM_DIAL_MS, admit);
  }

  /** The dial/accept/census/barrier sequence shared by reform() and a joiner's first entry. */
  private async formGeneration(generation: number, dialMs: number, admit: boolean): Promise<{ generation: number; members: number[] }> {
    const n = this.opts.size;
    this.census = { generation, ids: new Set([this.id]), done: null, early: this.census?.generation === generation ? this.census.early : [] };
    let pred: WsLink | null = null;
    for (let k = 1; k < n && !pred; k++) {
      const id = (this.id - k + n) % n;
      try {
        pred = await this.dial(id, Date.now() + dialMs, generation, 'ring', false, admit);
      } catch (e) {
        this.log('reform-dial-failed', { rank: id, reason: (e as Error).message });
      }
    }
    this.fatal = null;
    this.generation = generation;
    this.step = 0;
    if (!pred) {
      this.members = [this.id];
      this.log('ring-reformed', { generation, members: this.members });
      return { generation, members: this.members };
    }
    this.setPredecessor(pred);
    const succ = await this.takeIncoming(
      generation,
      this.opts.connectTimeoutMs,
      () => new RingError('E_PEER_TIMEOUT', `no successor dialled rank ${this.id} for generation ${generation} within ${this.opts.connectTimeoutMs} ms`),
    );
    this.setSuccessor(succ);
    const ids = await this.runCensus(generation);
    this.members = ids;
    await this.barrier();
    this.log('ring-reformed', { generation, members: this.members });
    return { generation, members: this.members };
  }

  /** Each id goes once around the ring; when ours comes back we have seen every member (links are FIFO). */
  private runCensus(generation: number): Promise<number[]> {
    const c = this.census!;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new RingError('E_PEER_TIMEOUT', `census for generation ${generation} did not complete`)), this.opts.connectTimeoutMs);
      c.done = {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.toSuccessor!.sendControl(encodeControl({ t: 'census', generation, id: this.id }));
      const early = c.early;
      c.early = [];
      for (const id of early) this.onCensus(generation, id);
    });
  }

  private onCensus(generation: number, id: number): void {
    const c = this.census;
    if (!c || c.generation !== generation) return;
    if (!c.done) {
      // Our successor link is up but we have not sent our own id yet: keep order, replay later.
      c.early.push(id);
      return;
    }
    if (id === this.id) {
      const ids = [...c.ids].sort((a, b) => a - b);
      const done = c.done;
      this.census = null;
      done.resolve(ids);
      return;
    }
    c.ids.add(id);
    this.toSuccessor?.sendControl(encodeControl({ t: 'census', generation, id }));
  }

  /**
   * A (re)started peer: ask a live member to let us in, wait for the ring to reach a step
   * boundary (join-ack with the new generation), then form that generation with everyone.
   */
  async joinRunningRing(addresses: PeerAddressLike[]): Promise<{ generation: number; members: number[] }> {
    this.addresses = addresses;
    this.chainBytes = addresses.every((a) => isLoopback(a.host)) ? CHAIN_ALLREDUCE_BYTES : 0;
    this.joining = true;
    const n = this.opts.size;
    const deadline = Date.now() + this.opts.connectTimeoutMs;
    while (Date.now() < deadline) {
      for (let k = 1; k < n; k++) {
        const id = (this.id - k + n) % n;
        let link: WsLink | null = null;
        try {
          link = await this.dial(id, Date.now() + REFORM_DIAL_MS, 0, 'join', false);
        } catch {
          link = null;
        }
        if (!link) continue;
        const ack = await nextControl(link, 'join-ack', this.opts.connectTimeoutMs).catch(() => null);
        link.terminate();
        if (ack?.t === 'join-ack') {
          this.log('join-accepted', { generation: ack.generation, via: id });
          const formed = await this.formGeneration(ack.generation, REFORM_DIAL_MS * 2, true);
          this.joining = false;
          return formed;
        }
      }
      await sleep(300);
    }
    throw new RingError('E_PEER_TIMEOUT', `rank ${this.id} could not join the running ring within ${this.opts.connectTimeoutMs} ms`);
  }

  /** The collective counter: checkpoints record it so a resumed ring replays the same frames and PRNG keys. */
  get collectiveStep(): number {
    return this.step;
  }

  /** Every peer must restore the same value at the same point (after the resume agreement). */
  restoreCollectiveStep(step: number): void {
    this.step = step;
  }

  /**
   * Sums v across the ring in place; every peer ends with identical bytes.
   * Float64Array travels exactly; Float32Array uses the configured codec (with `residual` as
   * its error-feedback memory when the codec is lossy).
   */
  async allreduce(v: Float32Array | Float64Array, residual?: Float32Array): Promise<void> {
    try {
      await this.allreduceOnce(v, residual);
    } catch (e) {
      // A frame that failed its checks: the stream from the predecessor can no longer be trusted,
      // so that link is closed with a code (4001) instead of being left open.
      if (e instanceof RingError && (e.code === 'E_FRAME' || e.code === 'E_FRAME_MISMATCH' || e.code === 'E_CODEC')) this.fromPredecessor?.reject(e);
      throw e;
    }
  }

  private async allreduceOnce(v: Float32Array | Float64Array, residual?: Float32Array): Promise<void> {
    if (v instanceof Float64Array) {
      await ringAllreduce(this.links(), v, { ...this.position(), codec: f64Codec, segmentElems: this.opts.segmentBytes >> 3, chainBytes: this.chainBytes });
      return;
    }
    if (this.opts.codec.name === 'shared') {
      const key = { seed: this.opts.seed, step: this.step };
      await sharedScaleAllreduce(
        {
          rank: this.rank,
          size: this.size,
          allreduceF64: (x) => this.allreduce(x),
          allreduceIntegers: (x) => ringAllreduce(this.links(), x, { ...this.position(), codec: this.codecF32, segmentElems: this.opts.segmentBytes >> 2, chainBytes: this.chainBytes }),
        },
        v,
        this.opts.levels ?? DEFAULT_SHARED_LEVELS,
        key,
        residual,
      );
      return;
    }
    const segmentElems = (this.opts.segmentBytes >> 2) * this.segmentScale;
    const o: AllreduceOptions<Float32Array> = { ...this.position(), codec: this.codecF32, segmentElems, chainBytes: this.chainBytes, residual };
    if (this.opts.mode === 'allgather') await allgatherReduce(this.size === 1 ? null : this.links(), v, o);
    else await ringAllreduce(this.links(), v, o);
  }

  /**
   * A zeroed vector for allreduce that lives in WebAssembly memory next to a staging area for
   * this ring's frames (a registered buffer, codec/simd.ts): reduce-scatter adds and all-gather
   * copies then run in place, with no copy in or out of the SIMD kernel. Any Float32Array works
   * with allreduce; this one is faster for vectors that are summed again and again. With a lossy
   * codec the memory also holds the vector's error-feedback residual (allocResidual).
   */
  allocVector(length: number): Float32Array {
    const staging = this.opts.segmentBytes + HEADER_BYTES;
    // Scratch for one segment's sign bits, however many values the codec puts in a segment.
    const scratchBytes = Math.max(1024, 192 + Math.ceil((staging * this.segmentScale) / 32));
    return allocRingVector(length, staging, { residual: this.opts.codec.lossless === false, scratchBytes });
  }

  /**
   * The error-feedback residual for `vector` (zeros until used), to pass to allreduce with it:
   * for a vector from allocVector (lossy codec) the one reserved beside it, so the 1-bit kernels
   * update it in place (the same array on every call); for any other vector a new Float32Array.
   */
  allocResidual(vector: Float32Array): Float32Array {
    return ringResidualOf(vector) ?? new Float32Array(vector.length);
  }

  /** How many dense segments' worth of values the codec puts in one segment (Codec.segmentScale). */
  private get segmentScale(): number {
    return this.opts.codec.segmentScale ?? 1;
  }

  /** Claims the next step number: every collective gets its own, on every peer alike. */
  private position() {
    if (this.fatal) throw this.fatal;
    return { rank: this.rank, size: this.size, generation: this.generation, step: this.step++, seed: this.opts.seed };
  }

  private links(): RingLinks {
    if (this.size === 1) return NO_LINKS;
    if (this.fatal || !this.toSuccessor || !this.fromPredecessor) throw this.fatal ?? new RingError('E_PEER_LOST', 'the ring is broken');
    return { toSuccessor: this.toSuccessor, fromPredecessor: this.fromPredecessor };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.teardown) clearTimeout(this.teardown);
    this.toSuccessor?.close(CloseCodes.normal, 'done');
    this.fromPredecessor?.close(CloseCodes.normal, 'done');
    for (const l of [...this.incoming.values(), ...this.joiners]) l.terminate();
    for (const w of this.incomingWaiters.values()) w.reject(new RingError('E_PEER_LOST', 'peer closed'));
    if (this.server) {
      const server = this.server;
      // Let the successor read what we already sent (it answers our close frame after the data),
      // then cut whatever is still open.
      const open = [...server.clients].filter((c) => c.readyState !== WebSocket.CLOSED);
      await Promise.race([Promise.all(open.map((c) => new Promise((r) => c.once('close', r)))), sleep(1000)]);
      for (const c of server.clients) c.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (this.https) await new Promise<void>((resolve) => this.https!.close(() => resolve()));
    }
  }
}

/**
 * Data flows from a listener to the peer that dialled it, never back: a data frame from a dialer
 * is a protocol violation at any time, and before the handshake it would let anyone fill this
 * peer's memory. The first one closes the link (4001) and stops reading from its socket.
 */
function refuseDataFrames(link: WsLink, ws: WebSocket): void {
  link
    .recvWith(() => {
      link.reject(new RingError('E_FRAME', `${link.peerName} sent a data frame to the listening side; data flows only from a peer to its successor`));
      ws.pause();
    })
    .catch(() => undefined);
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
