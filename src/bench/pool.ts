/**
 * Pools one cell's samples over the rounds of `ringtrain bench --rounds R`. Every implementation
 * runs once per round, in alternating order, so on a host whose speed drifts (a shared VM here
 * moved the same cell's CPU per op by 1.7× within minutes) each one meets the same spells of
 * noise. The record's median is over all rounds' samples; the per-round medians stay in the
 * record, so the summary can show how far the per-round ratios spread.
 */
import { makeRecord, type BenchRecord, type Impl } from './report.js';

export interface CellBase {
  impl: Impl;
  N: number;
  bytes: number;
  codec: string;
  mode: string;
  segmentBytes: number | null;
}

interface Pooled {
  base: CellBase;
  samples: number[];
  roundMedians: number[];
  wrong: number;
  wire: number | null;
  relErr: number[];
  cpu: number[];
}

export class CellPool {
  private readonly cells = new Map<string, Pooled>();

  /** One round's measurement of a cell. */
  add(base: CellBase, samplesUs: number[], wrong: number, wireBytesPerPeer: number | null, relErr: number | null = null, cpuUs: number | null = null): BenchRecord {
    const key = `${base.impl}|${base.N}|${base.bytes}|${base.codec}|${base.mode}|${base.segmentBytes}`;
    let p = this.cells.get(key);
    if (!p) {
      p = { base, samples: [], roundMedians: [], wrong: 0, wire: null, relErr: [], cpu: [] };
      this.cells.set(key, p);
    }
    const round = makeRecord(base, samplesUs, wrong, wireBytesPerPeer, relErr, cpuUs);
    p.samples.push(...samplesUs);
    p.roundMedians.push(round.median_us);
    p.wrong += wrong;
    if (wireBytesPerPeer !== null) p.wire = Math.max(p.wire ?? 0, wireBytesPerPeer);
    if (relErr !== null) p.relErr.push(relErr);
    if (cpuUs !== null) p.cpu.push(cpuUs);
    return round;
  }

  /** One record per cell, pooled over its rounds, in the order the cells were first seen. */
  records(): BenchRecord[] {
    return [...this.cells.values()].map((p) => {
      const rec = makeRecord(p.base, p.samples, p.wrong, p.wire, mean(p.relErr), mean(p.cpu));
      rec.round_medians_us = p.roundMedians;
      return rec;
    });
  }
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null;
}
