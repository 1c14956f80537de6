/**
 * busbw vs vector size as a hand-written SVG (no dependency): log2 x axis, one line per ring
 * size N (colour) and implementation (solid = our WebSocket ring, dashed = raw TCP ring,
 * dotted = MPI, dash-dotted = MPI forced to its ring algorithm).
 */
import type { BenchRecord } from './report.js';
import { formatSize } from './units.js';

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const DASH: Record<string, string> = { ws: '', tcp: '7 4', mpi: '2 3', 'mpi-ring': '2 3 7 3' };
const IMPL_NAME: Record<string, string> = { ws: 'ringtrain (ws)', tcp: 'raw TCP ring', mpi: 'MPI', 'mpi-ring': 'MPI ring' };

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function renderSvg(records: BenchRecord[], title: string): string {
  const W = 760;
  const H = 460;
  const m = { l: 64, r: 200, t: 40, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const series = new Map<string, BenchRecord[]>();
  for (const r of records) {
    const seg = r.impl !== 'mpi' && r.impl !== 'mpi-ring' && r.segmentBytes && new Set(records.filter((x) => x.impl === r.impl).map((x) => x.segmentBytes)).size > 1 ? ` seg ${formatSize(r.segmentBytes)}` : '';
    const codec = r.impl === 'ws' && r.codec !== 'dense' ? ` ${r.codec}/${r.mode}` : '';
    const key = `${r.impl}|${r.N}|${codec}${seg}`;
    const list = series.get(key) ?? [];
    list.push(r);
    series.set(key, list);
  }
  const sizes = records.map((r) => r.bytes);
  const xmin = Math.log2(Math.min(...sizes, 4096));
  const xmax = Math.max(Math.log2(Math.max(...sizes, 8192)), xmin + 1);
  const ymaxRaw = Math.max(...records.map((r) => r.busbw_MBps / 1000), 0.1);
  const ystep = niceStep(ymaxRaw / 5);
  const ymax = Math.ceil(ymaxRaw / ystep) * ystep;
  const X = (bytes: number) => m.l + ((Math.log2(bytes) - xmin) / (xmax - xmin)) * pw;
  const Y = (gbps: number) => m.t + ph - (gbps / ymax) * ph;
  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.l}" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  // Grid and axes.
  for (let y = 0; y <= ymax + 1e-9; y += ystep) {
    const py = Y(y).toFixed(1);
    out.push(`<line x1="${m.l}" y1="${py}" x2="${m.l + pw}" y2="${py}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${trimNum(y)}</text>`);
  }
  for (let e = Math.ceil(xmin); e <= Math.floor(xmax); e += 2) {
    const px = X(2 ** e).toFixed(1);
    out.push(`<line x1="${px}" y1="${m.t}" x2="${px}" y2="${m.t + ph}" stroke="#eee"/>`);
    out.push(`<text x="${px}" y="${m.t + ph + 16}" text-anchor="middle">${escapeXml(formatSize(2 ** e))}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">vector size (bytes, log scale)</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">busbw (GB/s) = algbw · 2(N-1)/N</text>`);
  // Lines.
  const ns = [...new Set(records.map((r) => r.N))].sort((a, b) => a - b);
  let li = 0;
  const order = (key: string) => {
    const [impl, n] = key.split('|');
    return ['ws', 'tcp', 'mpi', 'mpi-ring'].indexOf(impl) * 1000 + Number(n);
  };
  for (const [key, pts] of [...series.entries()].sort((a, b) => order(a[0]) - order(b[0]) || a[0].localeCompare(b[0]))) {
    const [impl, nText, extra] = key.split('|');
    const n = Number(nText);
    const colour = COLOURS[ns.indexOf(n) % COLOURS.length];
    const sorted = [...pts].sort((a, b) => a.bytes - b.bytes);
    const d = sorted.map((p, i) => `${i ? 'L' : 'M'}${X(p.bytes).toFixed(1)},${Y(p.busbw_MBps / 1000).toFixed(1)}`).join(' ');
    const dash = DASH[impl] ? ` stroke-dasharray="${DASH[impl]}"` : '';
    out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    for (const p of sorted) out.push(`<circle cx="${X(p.bytes).toFixed(1)}" cy="${Y(p.busbw_MBps / 1000).toFixed(1)}" r="2.5" fill="${colour}"/>`);
    const ly = m.t + 10 + li * 18;
    const lx = m.l + pw + 14;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 26}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 32}" y="${ly}" dominant-baseline="middle">${escapeXml(`N=${n} ${IMPL_NAME[impl] ?? impl}${extra}`)}</text>`);
    li++;
  }
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= raw) return f * p;
  return 10 * p;
}

function trimNum(x: number): string {
  return Number(x.toFixed(3)).toString();
}
