/**
 * Training benchmark: step time (compute / allreduce / wait) and rows/s vs ring size on a real
 * data set. The same as `ringtrain bench --train-bench`.
 *
 *   npx tsx scripts/bench-train.ts [--peers 1,2,4,8] [--data ../shared/data/a9a] [--test ../shared/data/a9a.t]
 *                                  [--steps 300]
 *                                  [--algo sgd] [--batch 256] [--json FILE] [-- extra launch flags]
 */
import { parseArgs } from 'node:util';
import { runTrainBench } from '../src/bench/train.js';
import { describeError, exitCodeOf } from '../src/errors.js';

const dash = process.argv.indexOf('--');
const own = dash >= 0 ? process.argv.slice(2, dash) : process.argv.slice(2);
const extra = dash >= 0 ? process.argv.slice(dash + 1) : [];
const { values } = parseArgs({
  args: own,
  options: {
    peers: { type: 'string', default: '1,2,4,8' },
    data: { type: 'string' },
    test: { type: 'string' },
    steps: { type: 'string' },
    algo: { type: 'string' },
    batch: { type: 'string' },
    json: { type: 'string' },
    'timeout-ms': { type: 'string', default: '1800000' },
  },
});

runTrainBench({
  peers: values.peers!.split(',').map(Number),
  data: values.data,
  test: values.test,
  steps: values.steps ? Number(values.steps) : undefined,
  algo: values.algo,
  batch: values.batch ? Number(values.batch) : undefined,
  json: values.json,
  timeoutMs: Number(values['timeout-ms']),
  extra,
}).then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`bench-train: ${describeError(e)}\n`);
    process.exitCode = exitCodeOf(e);
  },
);
