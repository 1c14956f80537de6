/**
 * SGD step-size schedules; t counts applied updates from 0.
 *   constant: α
 *   invt:     α / (1 + t/t0)        (the classic 1/t decay, O(1/t) for large t)
 *   invsqrt:  α / sqrt(1 + t/t0)
 */
import { RingError } from '../errors.js';

export type ScheduleName = 'constant' | 'invt' | 'invsqrt';

export interface Schedule {
  readonly kind: ScheduleName;
  /** Initial step size α. */
  readonly lr: number;
  /** Decay time constant in updates (ignored by 'constant'). */
  readonly t0: number;
}

export function checkSchedule(s: Schedule): void {
  if (!(s.lr > 0) || !Number.isFinite(s.lr)) throw new RingError('E_CONFIG', `learning rate must be a finite number > 0, got ${s.lr}`);
  if (!(s.t0 > 0) || !Number.isFinite(s.t0)) throw new RingError('E_CONFIG', `schedule t0 must be a finite number > 0, got ${s.t0}`);
  if (s.kind !== 'constant' && s.kind !== 'invt' && s.kind !== 'invsqrt') {
    throw new RingError('E_CONFIG', `unknown schedule '${String(s.kind)}'; use constant, invt or invsqrt`);
  }
}

export function learningRate(s: Schedule, t: number): number {
  switch (s.kind) {
    case 'constant':
      return s.lr;
    case 'invt':
      return s.lr / (1 + t / s.t0);
    case 'invsqrt':
      return s.lr / Math.sqrt(1 + t / s.t0);
  }
}
