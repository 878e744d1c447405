/**
 * Mean silhouette (Rousseeuw 1987) of a labelled set of rows, Euclidean distance, exact over the rows given:
 * s(i) = (b − a) / max(a, b) with a the mean distance to the rest of its own cluster and b the smallest mean
 * distance to another cluster; a point alone in its cluster scores 0 (the usual convention, scikit-learn's
 * too). O(m²·d): callers pass a sample of a few thousand rows.
 */

export function meanSilhouette(
  data: Float64Array,
  m: number,
  d: number,
  labels: ArrayLike<number>,
  k: number,
): number {
  if (m < 2 || k < 2) return 0;
  const sums = new Float64Array(m * k);
  const sizes = new Float64Array(k);
  for (let i = 0; i < m; i++) {
    const li = labels[i] as number;
    sizes[li] = (sizes[li] as number) + 1;
  }
  for (let i = 0, p = 0; i < m; i++, p += d) {
    const ri = i * k;
    const li = labels[i] as number;
    for (let j = i + 1, q = p + d; j < m; j++, q += d) {
      let s = 0;
      for (let f = 0; f < d; f++) {
        const diff = (data[p + f] as number) - (data[q + f] as number);
        s += diff * diff;
      }
      const dist = Math.sqrt(s);
      const lj = labels[j] as number;
      sums[ri + lj] = (sums[ri + lj] as number) + dist;
      sums[j * k + li] = (sums[j * k + li] as number) + dist;
    }
  }
  let total = 0;
  for (let i = 0; i < m; i++) {
    const li = labels[i] as number;
    const own = sizes[li] as number;
    if (own < 2) continue;
    const a = (sums[i * k + li] as number) / (own - 1);
    let b = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      const size = sizes[c] as number;
      if (c === li || size === 0) continue;
      const mean = (sums[i * k + c] as number) / size;
      if (mean < b) b = mean;
    }
    if (b === Number.POSITIVE_INFINITY) continue;
    const denom = Math.max(a, b);
    if (denom > 0) total += (b - a) / denom;
  }
  return total / m;
}
