import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RingError } from '../../src/errors.js';
import { decodeModel, encodeModel, loadModel, saveModel, weightsDigest, type LogRegModel } from '../../src/model/file.js';
import { randomWeights } from '../optim/fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ringtrain-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const model = (): LogRegModel => ({
  dim: 123,
  lambda: 1 / 32561,
  algorithm: 'lbfgs',
  steps: 287,
  weights: randomWeights(9, 124, 2),
  metadata: { train: 'a9a', peers: 4, note: 'ünïcode ok' },
});

async function expectModelError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RingError);
  expect((err as RingError).code).toBe('E_MODEL_FILE');
  expect((err as RingError).message).toMatch(pattern);
}

describe('model file', () => {
  it('weightsDigest is the sha256 of the raw f64 bytes (and respects subarray views)', () => {
    const w = randomWeights(1, 10);
    expect(weightsDigest(w)).toBe(createHash('sha256').update(Buffer.from(w.buffer)).digest('hex'));
    const big = randomWeights(2, 20);
    expect(weightsDigest(big.subarray(5, 15))).toBe(weightsDigest(Float64Array.from(big.subarray(5, 15))));
    const w2 = Float64Array.from(w);
    w2[3] = -w2[3];
    expect(weightsDigest(w2)).not.toBe(weightsDigest(w));
    // −0 and +0 are different bytes: a digest compares bits, not values
    expect(weightsDigest(new Float64Array([0]))).not.toBe(weightsDigest(new Float64Array([-0])));
  });

  it('round-trips bit for bit, atomically, leaving no temp files', async () => {
    const m = model();
    const path = join(dir, 'a.rtlr');
    await saveModel(path, m);
    const back = await loadModel(path);
    expect(back.dim).toBe(m.dim);
    expect(back.lambda).toBe(m.lambda);
    expect(back.algorithm).toBe('lbfgs');
    expect(back.steps).toBe(287);
    expect(back.metadata).toEqual(m.metadata);
    expect(weightsDigest(back.weights)).toBe(weightsDigest(m.weights));
    // overwrite in place
    await saveModel(path, { ...m, steps: 300 });
    expect((await loadModel(path)).steps).toBe(300);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('keeps special values exactly', () => {
    const w = new Float64Array([0, -0, 1e-310, -1e308, Math.PI]);
    const back = decodeModel(encodeModel({ dim: 4, lambda: 0, algorithm: 'sgd', steps: 0, weights: w }));
    expect(Object.is(back.weights[1], -0)).toBe(true);
    expect(weightsDigest(back.weights)).toBe(weightsDigest(w));
    expect(back.metadata).toEqual({});
  });

  it('rejects a flipped weight bit, truncation, wrong magic, wrong version, bad JSON and a missing file', async () => {
    const bytes = encodeModel(model());
    const flipped = Uint8Array.from(bytes);
    flipped[bytes.length - 3] ^= 0x10;
    const p1 = join(dir, 'flipped.rtlr');
    await writeFile(p1, flipped);
    await expectModelError(loadModel(p1), /digest mismatch.*corrupted/);

    const p2 = join(dir, 'truncated.rtlr');
    await writeFile(p2, bytes.subarray(0, bytes.length - 8));
    await expectModelError(loadModel(p2), /truncated/);
    await writeFile(p2, bytes.subarray(0, 20));
    await expectModelError(loadModel(p2), /shorter than the 64-byte header/);
    await writeFile(p2, new Uint8Array(0));
    await expectModelError(loadModel(p2), /truncated/);

    const wrongMagic = Uint8Array.from(bytes);
    wrongMagic.set([0x50, 0x4b, 0x03, 0x04], 0);
    const p3 = join(dir, 'magic.rtlr');
    await writeFile(p3, wrongMagic);
    await expectModelError(loadModel(p3), /not a ringtrain model file/);

    const wrongVersion = Uint8Array.from(bytes);
    new DataView(wrongVersion.buffer).setUint32(4, 99, true);
    const p4 = join(dir, 'version.rtlr');
    await writeFile(p4, wrongVersion);
    await expectModelError(loadModel(p4), /version 99 is not supported/);

    const badJson = Uint8Array.from(bytes);
    badJson[64] = 0x7b + 1; // '{' → '|'
    const p5 = join(dir, 'json.rtlr');
    await writeFile(p5, badJson);
    await expectModelError(loadModel(p5), /JSON/);

    const bigDim = Uint8Array.from(bytes);
    new DataView(bigDim.buffer).setUint32(8, 0xfffffff0, true);
    expect(() => decodeModel(bigDim, 'x')).toThrow(/truncated or corrupted/);

    await expectModelError(loadModel(join(dir, 'nope.rtlr')), /not found/);
  });

  it('reports an unwritable destination as E_MODEL_FILE', async () => {
    await expectModelError(saveModel(join(dir, 'no', 'such', 'dir', 'm.rtlr'), model()), /could not write/);
  });

  it('the stored file starts with the documented header', async () => {
    const path = join(dir, 'hdr.rtlr');
    await saveModel(path, model());
    const b = await readFile(path);
    expect(b.subarray(0, 4).toString('latin1')).toBe('RTLR');
    expect(b.readUInt32LE(4)).toBe(1);
    expect(b.readUInt32LE(8)).toBe(123);
    expect(b.length % 8).toBe(0);
  });
});
