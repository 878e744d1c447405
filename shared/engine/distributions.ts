/**
 * How customers spread over the RFM grid and over predicted value: what a dashboard draws as the recency ×
 * frequency heat map and the CLV histogram. Computed from a result's columns in one pass each.
 */
import { fmScore } from "./rfm";

/**
 * Customers per cell of the grid the RFM segments are defined on (SEGMENT_GRID): grid[r - 1][fm - 1] counts
 * the customers with recency score r and frequency-and-monetary score fm = fmScore(f, m), 1..5 each.
 */
export function rfmGrid(r: Uint8Array, f: Uint8Array, m: Uint8Array): number[][] {
  const grid = Array.from({ length: 5 }, () => new Array<number>(5).fill(0));
  for (let i = 0; i < r.length; i++) {
    const row = grid[(r[i] as number) - 1];
    const fm = fmScore(f[i] as number, m[i] as number) - 1;
    if (row !== undefined && fm >= 0 && fm < 5) row[fm] = (row[fm] as number) + 1;
  }
  return grid;
}

export interface Histogram {
  /** Bin k holds values in [edges[k], edges[k + 1]); the last bin also holds its upper edge. */
  edges: number[];
  counts: number[];
}

/**
 * A histogram of non-negative values (negatives count in the first bin) on 1-2-5 edges from 0 up to the
 * first edge at or above the largest value: 0, 1, 2, 5, 10, 20, 50, ... Value distributions are skewed, and
 * these edges read as amounts without a log axis.
 */
export function valueHistogram(values: Float64Array): Histogram {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  const edges = [0, 1];
  for (let k = 0; (edges[edges.length - 1] as number) < max; k++) {
    const decade = 10 ** Math.floor(k / 3);
    edges.push(([2, 5, 10][k % 3] as number) * decade);
  }
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of values) {
    let bin = 0;
    while (bin < counts.length - 1 && v >= (edges[bin + 1] as number)) bin++;
    counts[bin] = (counts[bin] as number) + 1;
  }
  return { edges, counts };
}
