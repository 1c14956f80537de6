import { describe, it, expect } from 'vitest';
import { RingPeer } from '../../src/membership/ring-peer.js';
import { RingError } from '../../src/errors.js';
import { HEADER_BYTES } from '../../src/transport/frame.js';
import { Rng, HEADER_FIELDS, FIELD_AT, otherValue, type HeaderField } from './cases.js';
import { peerOptions, intVector, pool } from './peers.js';
import { startProxy, type Tamper } from './proxy.js';
import { expectNoProcessErrors } from './watch.js';

/**
 * Data frames tampered with after a genuine handshake. Two real peers form a ring of 2; the link
 * from rank 0 to rank 1 runs through a man in the middle that, for one allreduce, changes one
 * data frame: a header field (magic, kind, codec, phase, dtype, reserved bytes, generation, step,
 * chunk, segment, count, origin), the payload length, a non-finite value, or the frame order
 * (dropped, duplicated, swapped), or the connection cut mid-allreduce. Rank 1 must reject that allreduce with a RingError and close the
 * link with a code; it must never finish it with a wrong sum. Untampered allreduces on the same
 * links are exact, so the harness itself is checked too.
 */
const D = 3001;
const CASES = Number(process.env.FUZZ_FRAMES ?? 600);

expectNoProcessErrors();

type Kind = 'field' | 'byte' | 'length' | 'nonfinite' | 'duplicate' | 'swap' | 'drop' | 'cut';
const KINDS: Kind[] = ['field', 'field', 'field', 'field', 'byte', 'byte', 'length', 'nonfinite', 'duplicate', 'swap', 'drop', 'cut'];
const RESERVED = [5, 6, 7];

function makeTamper(rng: Rng, kind: Kind, target: number): { tamper: Tamper; label: () => string } {
  let held: Buffer | null = null;
  let label: string = kind;
  const tamper: Tamper = (p, i) => {
    if (kind === 'swap') {
      if (i === target) {
        held = p;
        return [];
      }
      if (i === target + 1 && held) return [p, held];
      return [p];
    }
    if (i !== target) return [p];
    const b = Buffer.from(p);
    switch (kind) {
      case 'field': {
        const field = rng.pick([...HEADER_FIELDS, 'magic', 'kind', 'reserved'] as const);
        label = `field:${field}`;
        if (field === 'magic') b[0] = rng.pick([0x00, 0xa6, 0xa8, 0xc7, 0xff]);
        else if (field === 'kind') b[1] = rng.pick([0, 2, 3, 0xff]);
        else if (field === 'reserved') b[rng.pick(RESERVED)] = 1 + rng.int(255);
        else {
          const [at, width] = FIELD_AT[field as HeaderField];
          const was = width === 1 ? b[at] : b.readUInt32LE(at);
          const v = otherValue(rng, field as HeaderField, was);
          if (width === 1) b[at] = v;
          else b.writeUInt32LE(v, at);
        }
        return [b];
      }
      case 'byte': {
        const at = rng.int(HEADER_BYTES);
        const v = (b[at] + 1 + rng.int(255)) & 0xff;
        label = `byte:${at}`;
        b[at] = v;
        return [b];
      }
      case 'length': {
        const cut = rng.pick([-1, -2, -3, -4, -8, 1, 2, 4, 8, -(b.length - HEADER_BYTES), -(b.length - rng.int(HEADER_BYTES))]);
        label = `length:${cut > 0 ? '+' : ''}${cut}`;
        return [cut < 0 ? b.subarray(0, Math.max(0, b.length + cut)) : Buffer.concat([b, Buffer.alloc(cut, 0x3f)])];
      }
      case 'nonfinite': {
        const values = (b.length - HEADER_BYTES) >> 2;
        const bits = rng.pick([0x7fc00000, 0x7f800000, 0xff800000, 0x7fffffff]);
        b.writeUInt32LE(bits, HEADER_BYTES + 4 * rng.int(Math.max(1, values)));
        return [b];
      }
      case 'duplicate':
        return [b, b];
      case 'drop':
        return [];
      case 'cut':
        // The man in the middle vanishes mid-allreduce (both TCP connections destroyed).
        return null;
    }
    return [p];
  };
  return { tamper, label: () => label };
}

interface Outcome {
  label: string;
  ok: boolean;
  detail: string;
}

async function runCase(seed: number): Promise<Outcome> {
  const rng = new Rng(seed);
  const kind = rng.pick(KINDS);
  const recvTimeoutMs = kind === 'drop' ? 1500 : 8000;
  const [p0, p1] = await Promise.all([0, 1].map((r) => RingPeer.listen(peerOptions(r, 2, { recvTimeoutMs, connectTimeoutMs: 5000 }))));
  const proxy = await startProxy(p0.port);
  try {
    await Promise.all([p0.join([{ host: '127.0.0.1', port: p0.port }, { host: '127.0.0.1', port: p1.port }]), p1.join([{ host: '127.0.0.1', port: proxy.port }, { host: '127.0.0.1', port: p1.port }])]);

    // An untouched allreduce through the proxy: exact, and it tells us how many frames one takes.
    proxy.arm((p) => [p]);
    const a = [intVector(D, seed, 'f32'), intVector(D, seed + 1, 'f32')];
    const want = a[0].map((x, i) => x + a[1][i]);
    await Promise.all([p0.allreduce(a[0]), p1.allreduce(a[1])]);
    for (const v of a) if (v.some((x, i) => x !== want[i])) return { label: kind, ok: false, detail: 'untampered allreduce was not exact (harness broken)' };
    const frames = proxy.dataFrames;

    const target = rng.int(kind === 'duplicate' || kind === 'swap' ? frames - 1 : frames);
    const { tamper, label } = makeTamper(rng, kind, target);
    proxy.arm(tamper);
    const b = [intVector(D, seed + 2, 'f32'), intVector(D, seed + 3, 'f32')];
    const results = await Promise.all([p0.allreduce(b[0]), p1.allreduce(b[1])].map((pr) => pr.then(() => null, (e: unknown) => e)));
    const e1 = results[1];
    // A dropped frame shows as the next frame out of place, or (the last one) as silence.
    const codes = kind === 'drop' ? ['E_FRAME_MISMATCH', 'E_PEER_TIMEOUT'] : kind === 'cut' ? ['E_PEER_LOST'] : ['E_FRAME', 'E_FRAME_MISMATCH', 'E_CODEC'];
    const refused = e1 instanceof RingError && codes.includes(e1.code);
    // A bad frame is answered with a close code; a silent or cut link is just dropped.
    const timedOut = e1 instanceof RingError && (e1.code === 'E_PEER_TIMEOUT' || e1.code === 'E_PEER_LOST');
    // Give the close frame a moment to cross the proxy.
    for (let i = 0; i < 300 && !timedOut && proxy.clientCloseCodes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const closed = timedOut || (proxy.clientCloseCodes.length > 0 && proxy.clientCloseCodes.every((c) => c === 4001));
    return {
      label: label(),
      ok: refused && closed,
      detail: `frame ${target}/${frames}: rank 1 ${e1 === null ? 'FINISHED' : `rejected ${(e1 as RingError).code}: ${(e1 as Error).message.slice(0, 140)}`}; rank 0 ${results[0] === null ? 'finished' : (results[0] as RingError).code}; close codes from rank 1: ${proxy.clientCloseCodes.join(',') || 'none'}`,
    };
  } finally {
    await Promise.all([p0.close(), p1.close()]);
    await proxy.close();
  }
}

describe('fuzz: tampered data frames after a genuine handshake', () => {
  it('every tampered frame makes the receiver reject the allreduce and close the link with a code', async () => {
    const outcomes = await pool(Array.from({ length: CASES }, (_, i) => () => runCase(0xfa11 + i)), 6);
    const byKind = new Map<string, { cases: number; refused: number }>();
    for (const o of outcomes) {
      const k = o.label.split(':')[0] + (o.label.startsWith('field:') ? `:${o.label.split(':')[1]}` : '');
      const t = byKind.get(k) ?? { cases: 0, refused: 0 };
      t.cases++;
      if (o.ok) t.refused++;
      byKind.set(k, t);
    }
    console.log(`[fuzz] data frames after the handshake: ${outcomes.length} tampered allreduces (+${outcomes.length} untampered, all exact)`);
    for (const [k, t] of [...byKind].sort()) console.log(`[fuzz]   ${k.padEnd(20)} ${String(t.cases).padStart(4)} cases, ${t.refused} rejected + link closed with a code`);
    for (const o of outcomes.filter((x) => !x.ok).slice(0, 20)) console.log(`[fuzz]   NOT REFUSED ${o.label}: ${o.detail}`);
    expect(outcomes.filter((o) => !o.ok).slice(0, 10)).toEqual([]);
  }, 90_000);
});
