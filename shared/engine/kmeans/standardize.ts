/**
 * Z-score standardization into one row-major matrix, the layout the k-means loops read. A feature with zero
 * variance keeps a scale of 1 so it standardizes to all zeros instead of dividing by zero.
 */

export interface Standardized {
  /** n rows of d z-scores, row-major. */
  data: Float64Array;
  n: number;
  d: number;
  means: number[];
  stds: number[];
}

export function standardize(columns: readonly Float64Array[], n: number): Standardized {
  const d = columns.length;
  const data = new Float64Array(n * d);
  const means: number[] = [];
  const stds: number[] = [];
  for (let f = 0; f < d; f++) {
    const col = columns[f] as Float64Array;
    // Two passes (mean, then squared deviations) avoid the cancellation of the one-pass sum-of-squares form.
    let sum = 0;
    for (let i = 0; i < n; i++) sum += col[i] as number;
    const mean = n > 0 ? sum / n : 0;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const dev = (col[i] as number) - mean;
      ss += dev * dev;
    }
    const std = n > 0 ? Math.sqrt(ss / n) : 0;
    // Relative guard: a column that is constant up to rounding is treated as constant.
    const scale = std > 1e-12 * Math.max(1, Math.abs(mean)) ? std : 1;
    means.push(mean);
    stds.push(scale);
    const inv = 1 / scale;
    for (let i = 0, p = f; i < n; i++, p += d) data[p] = ((col[i] as number) - mean) * inv;
  }
  return { data, n, d, means, stds };
}

/** Centroid in z-scores -> original units. */
export function toOriginal(
  z: ArrayLike<number>,
  means: readonly number[],
  stds: readonly number[],
): number[] {
  return means.map((mean, f) => mean + (z[f] as number) * (stds[f] as number));
}

/** Point in original units -> z-scores. */
export function toStandard(
  x: ArrayLike<number>,
  means: readonly number[],
  stds: readonly number[],
): number[] {
  return means.map((mean, f) => ((x[f] as number) - mean) / (stds[f] as number));
}
