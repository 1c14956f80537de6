import type { PeerEvent } from '../train/run-peer.js';

type Progress = Extract<PeerEvent, { t: 'progress' }>;

/**
 * One status line for the whole ring (rank 0's view: every peer has the same numbers). On a
 * terminal it redraws in place; in a pipe or CI log it prints a line every few seconds.
 */
export class ProgressView {
  private last = 0;
  private drawn = false;
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly quiet: boolean,
  ) {}

  update(p: Progress): void {
    if (this.quiet) return;
    const now = Date.now();
    const tty = this.out.isTTY;
    if (!tty && now - this.last < 3000 && !p.converged) return;
    this.last = now;
    const line = formatProgress(p);
    if (tty) {
      this.out.write(`\r\x1b[2K${line}`);
      this.drawn = true;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** Ends the in-place line before other output. */
  break(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

export function formatProgress(p: Progress): string {
  const parts: string[] = [];
  if (p.totalSteps) {
    const frac = Math.min(1, p.step / p.totalSteps);
    const width = 20;
    const filled = Math.round(frac * width);
    parts.push(`step ${p.step}/${p.totalSteps} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`);
  } else {
    parts.push(`step ${p.step}`);
  }
  if (p.epoch !== undefined) parts.push(`epoch ${p.epoch + 1}`);
  if (p.objective !== undefined) parts.push(`objective ${p.objective.toFixed(6)}`);
  if (p.batchLoss !== undefined) parts.push(`batch loss ${p.batchLoss.toFixed(4)}`);
  if (p.relGradNorm !== undefined) parts.push(`|g|/|g0| ${p.relGradNorm.toExponential(2)}`);
  else if (p.gradNorm !== undefined) parts.push(`|g| ${p.gradNorm.toExponential(2)}`);
  parts.push(`${p.stepMs.toFixed(1)} ms/step (comm ${p.commMs.toFixed(1)})`);
  parts.push(`${Math.round(p.rowsPerSec).toLocaleString('en-US')} rows/s`);
  parts.push(`sent ${formatBytes(p.bytesSent)}`);
  return parts.join(' | ');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
