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
  return meanFromSums(sums, sizes, labels, m, k);
}

/** s(i) averaged over the m rows, from each row's summed distance to every cluster and the cluster sizes. */
function meanFromSums(
  sums: Float64Array,
  sizes: Float64Array,
  labels: ArrayLike<number>,
  m: number,
  k: number,
): number {
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

/** Pairwise distances kept by silhouetteScorer: at most 4 M (32 MB), a sample of up to 2,828 rows. */
const MAX_KEPT_DISTANCES = 4_000_000;

/**
 * Scores many labellings of the same rows, as choosing k does: the m(m − 1)/2 pairwise distances are computed
 * once and each labelling then costs only the sums. The sums are taken in the order meanSilhouette takes them,
 * so every score is bit for bit meanSilhouette's. Beyond MAX_KEPT_DISTANCES pairs it falls back to
 * meanSilhouette for every labelling.
 */
export function silhouetteScorer(
  data: Float64Array,
  m: number,
  d: number,
): (labels: ArrayLike<number>, k: number) => number {
  const pairs = (m * (m - 1)) / 2;
  if (m < 2 || pairs > MAX_KEPT_DISTANCES) return (labels, k) => meanSilhouette(data, m, d, labels, k);
  let distances: Float64Array | undefined;
  const distancesOf = (): Float64Array => {
    if (distances !== undefined) return distances;
    const out = new Float64Array(pairs);
    let t = 0;
    for (let i = 0, p = 0; i < m; i++, p += d) {
      for (let j = i + 1, q = p + d; j < m; j++, q += d) {
        let s = 0;
        for (let f = 0; f < d; f++) {
          const diff = (data[p + f] as number) - (data[q + f] as number);
          s += diff * diff;
        }
        out[t++] = Math.sqrt(s);
      }
    }
    distances = out;
    return out;
  };
  return (labels, k) => {
    if (k < 2) return 0;
    const dist = distancesOf();
    const sums = new Float64Array(m * k);
    const sizes = new Float64Array(k);
    for (let i = 0; i < m; i++) {
      const li = labels[i] as number;
      sizes[li] = (sizes[li] as number) + 1;
    }
    let t = 0;
    for (let i = 0; i < m; i++) {
      const ri = i * k;
      const li = labels[i] as number;
      for (let j = i + 1; j < m; j++) {
        const dij = dist[t++] as number;
        const lj = labels[j] as number;
        sums[ri + lj] = (sums[ri + lj] as number) + dij;
        sums[j * k + li] = (sums[j * k + li] as number) + dij;
      }
    }
    return meanFromSums(sums, sizes, labels, m, k);
  };
}
