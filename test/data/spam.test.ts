import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetDigest } from '../../src/data/shard.js';
import { addEmailFeatures, loadSpamAssassin, spamLabel, type SpamDataset } from '../../src/data/spam.js';
import { CsrBuilder } from '../../src/data/csr.js';
import { bucketOf, HashedRow } from '../../src/data/hashing.js';

describe('SpamAssassin default dataset', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'ringtrain-spam-cache-'));
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
  let first: SpamDataset;
  beforeAll(() => {
    first = loadSpamAssassin({ cache: cacheDir });
  });

  it('has 6046 emails, 1896 spam, 2^18 buckets, a stratified 80/20 split', () => {
    const { train, test, info } = first;
    expect(info.emails).toBe(6046);
    expect(info.spam).toBe(1896);
    expect(info.ham).toBe(4150);
    expect(train.rows + test.rows).toBe(6046);
    expect(test.rows).toBe(Math.round(0.2 * 1896) + Math.round(0.2 * 4150));
    let testSpam = 0;
    for (const l of test.labels) testSpam += l;
    let trainSpam = 0;
    for (const l of train.labels) trainSpam += l;
    expect(testSpam).toBe(379);
    expect(trainSpam).toBe(1896 - 379);
    expect(train.dim).toBe(1 << 18);
    expect(test.dim).toBe(1 << 18);
    expect(info.nnz).toBe(train.indices.length + test.indices.length);
  });

  it('rows are unit-norm, ascending, within dim', () => {
    const ds = first.train;
    let bad = 0;
    for (let i = 0; i < ds.rows; i++) {
      let n2 = 0;
      for (let p = ds.indptr[i]; p < ds.indptr[i + 1]; p++) {
        n2 += ds.values[p] * ds.values[p];
        if (ds.indices[p] >= ds.dim || (p > ds.indptr[i] && ds.indices[p] <= ds.indices[p - 1])) bad++;
      }
      if (ds.indptr[i + 1] > ds.indptr[i] && Math.abs(n2 - 1) > 1e-5) bad++;
    }
    expect(bad).toBe(0);
  });

  it('the split is deterministic (same digests twice), cache hits equal a fresh build', () => {
    expect(first.info.cache).toBe('written');
    const cached = loadSpamAssassin({ hashBits: 18, testFraction: 0.2, seed: 20241125, cache: cacheDir });
    expect(cached.info.cache).toBe('hit');
    expect(cached.info.cacheFile).toBe(first.info.cacheFile);
    const fresh = loadSpamAssassin({ cache: false });
    expect(fresh.info.cache).toBe('off');
    for (const again of [cached, fresh]) {
      expect(datasetDigest(again.train)).toBe(datasetDigest(first.train));
      expect(datasetDigest(again.test)).toBe(datasetDigest(first.test));
    }
  });

  it('seed and testFraction change the split (served from the cache)', () => {
    const other = loadSpamAssassin({ seed: 1, testFraction: 0.5, cache: cacheDir });
    expect(other.info.cache).toBe('hit');
    expect(other.test.rows).toBe(948 + 2075);
    const reseeded = loadSpamAssassin({ seed: 2, cache: cacheDir });
    expect(reseeded.test.rows).toBe(first.test.rows);
    expect(datasetDigest(reseeded.test)).not.toBe(datasetDigest(first.test));
    expect(() => loadSpamAssassin({ hashBits: 40, cache: false })).toThrow(/hashBits/);
    expect(() => loadSpamAssassin({ testFraction: 1, cache: cacheDir })).toThrow(/testFraction/);
  });

  it('features: body tokens, Subject as s:, From domain as f:, other headers dropped', () => {
    const email = 'Received: from relay.example.net\nFrom: Bob <bob@Mail.Example.com>\nSubject: Cheap pills\n\nBuy cheap now\n';
    const row = new HashedRow();
    const b = new CsrBuilder();
    addEmailFeatures(row, email, 20);
    row.flushTo(b);
    b.endRow(1);
    const got = new Set(b.build(1 << 20).indices);
    const want = ['buy', 'cheap', 'now', 's:cheap', 's:pills', 'f:mail', 'f:example', 'f:com'].map((t) => bucketOf(t, 20));
    expect(got).toEqual(new Set(want));
    expect(got.has(bucketOf('relay', 20))).toBe(false);
    expect(spamLabel('spam-2')).toBe(1);
    expect(spamLabel('hard-ham-1')).toBe(0);
  });
});
