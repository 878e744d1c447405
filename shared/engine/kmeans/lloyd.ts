/**
 * The k-means core on a row-major Float64Array of n rows × d columns: greedy k-means++ seeding and Lloyd
 * iterations accelerated with Hamerly's bounds (one upper bound to the own centre, one lower bound to the
 * second-closest, per point). In low dimension Hamerly's two bounds skip most distance computations after the
 * first few iterations at a fraction of the bookkeeping of Elkan's k bounds per point. When a point's bounds
 * fail, its nearest two centres are searched among the others in order of distance from its own centre,
 * stopping as soon as the triangle inequality rules out the rest (the idea of the annular and Exponion
 * variants), so a point on the border of two clusters rarely pays for all k distances. Centre sums are kept
 * incrementally: a point that changes cluster moves its coordinates from one sum to the other, so the update
 * step costs O(k·d), not O(n·d).
 *
 * Hamerly, G. (2010). Making k-means even faster. SIAM International Conference on Data Mining.
 * Newling, J. & Fleuret, F. (2016). Fast k-means with accurate bounds. ICML.
 * Arthur, D. & Vassilvitskii, S. (2007). k-means++: the advantages of careful seeding. SODA.
 */
import { createRandom, type Random } from "./random";

/**
 * Per-point working arrays, allocated once and reused across restarts: Lloyd's labels and bounds for up to
 * `capacity` rows, and k-means++ scratch for up to `seedCapacity` rows (seeding runs on samples only when
 * the data is large, so its four arrays need not cover every row).
 */
export interface Workspace {
  capacity: number;
  seedCapacity: number;
  labels: Int32Array;
  upper: Float64Array;
  /** Stored lower bound minus stored upper bound (see hamerly). */
  slack: Float64Array;
  /** k-means++ scratch: closest squared distance, two trial buffers, cumulative weights. */
  closest: Float64Array;
  trial: Float64Array;
  best: Float64Array;
  cumulative: Float64Array;
}

export function createWorkspace(capacity: number, seedCapacity = capacity): Workspace {
  return {
    capacity,
    seedCapacity,
    labels: new Int32Array(capacity),
    upper: new Float64Array(capacity),
    slack: new Float64Array(capacity),
    closest: new Float64Array(seedCapacity),
    trial: new Float64Array(seedCapacity),
    best: new Float64Array(seedCapacity),
    cumulative: new Float64Array(seedCapacity),
  };
}

export interface LloydResult {
  /** k × d centres, row-major, in the data's (standardized) units. */
  centers: Float64Array;
  k: number;
  inertia: number;
  /** Assignment passes over the data. */
  iterations: number;
  /** True when no point changed cluster (an exact fixed point) or the centre shift fell within tolerance. */
  converged: boolean;
}

function localTrials(k: number): number {
  // The greedy variant's usual choice (as in scikit-learn): a few candidates per centre, the one that lowers
  // the potential most wins. It costs (2 + ln k)× plain k-means++ and gives markedly better starts.
  return 2 + Math.floor(Math.log(k));
}

function pickWeighted(cumulative: Float64Array, n: number, random: Random): number {
  const total = cumulative[n - 1] as number;
  const r = random.next() * total;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((cumulative[mid] as number) > r) hi = mid;
    else lo = mid + 1;
  }
  // Rounding can leave r at the very top; step back to a row that carries weight.
  while (lo > 0 && (cumulative[lo] as number) === (cumulative[lo - 1] as number)) lo--;
  return lo;
}

/**
 * Greedy k-means++ seeding. Returns the centres found; fewer than k when the data has fewer than k distinct
 * rows (the potential reaches zero), which the caller reports as a smaller k.
 */
export function seedPlusPlus(
  data: Float64Array,
  n: number,
  d: number,
  k: number,
  random: Random,
  ws: Workspace,
): { centers: Float64Array; k: number } {
  if (n > ws.seedCapacity) throw new RangeError(`seeding ${n} rows needs a workspace of that seed capacity`);
  const centers = new Float64Array(k * d);
  let closest = ws.closest;
  let trial = ws.trial;
  let best = ws.best;
  const cumulative = ws.cumulative;

  const first = random.nextInt(n);
  for (let f = 0; f < d; f++) centers[f] = data[first * d + f] as number;
  let potential = 0;
  for (let i = 0, p = 0; i < n; i++, p += d) {
    const s = squaredDistance(data, p, centers, 0, d);
    closest[i] = s;
    potential += s;
  }

  const trials = localTrials(k);
  let found = 1;
  while (found < k && potential > 0) {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += closest[i] as number;
      cumulative[i] = acc;
    }
    let bestPotential = Number.POSITIVE_INFINITY;
    let bestRow = -1;
    for (let t = 0; t < trials; t++) {
      const row = pickWeighted(cumulative, n, random);
      const q = row * d;
      let pot = 0;
      for (let i = 0, p = 0; i < n; i++, p += d) {
        const s = squaredDistance(data, p, data, q, d);
        const c = closest[i] as number;
        const v = Math.min(s, c);
        trial[i] = v;
        pot += v;
      }
      if (pot < bestPotential) {
        bestPotential = pot;
        bestRow = row;
        const swap = best;
        best = trial;
        trial = swap;
      }
    }
    for (let f = 0; f < d; f++) centers[found * d + f] = data[bestRow * d + f] as number;
    found++;
    const swap = closest;
    closest = best;
    best = swap;
    potential = bestPotential;
  }
  // Buffers were swapped around; hand them back so the workspace keeps three distinct arrays.
  ws.closest = closest;
  ws.trial = trial;
  ws.best = best;
  return { centers: found === k ? centers : centers.slice(0, found * d), k: found };
}

/**
 * Index of the nearest centre to row p; squared distances to the nearest and second-nearest go to `out`.
 * Four features is the production shape, so it gets an unrolled path; the loop serves any other width.
 */
function scan(
  data: Float64Array,
  p: number,
  d: number,
  centers: Float64Array,
  k: number,
  out: Float64Array,
): number {
  let d1 = Number.POSITIVE_INFINITY;
  let d2 = Number.POSITIVE_INFINITY;
  let b = 0;
  if (d === 4) {
    const x0 = data[p] as number;
    const x1 = data[p + 1] as number;
    const x2 = data[p + 2] as number;
    const x3 = data[p + 3] as number;
    for (let j = 0, q = 0; j < k; j++, q += 4) {
      const a0 = x0 - (centers[q] as number);
      const a1 = x1 - (centers[q + 1] as number);
      const a2 = x2 - (centers[q + 2] as number);
      const a3 = x3 - (centers[q + 3] as number);
      const s = a0 * a0 + a1 * a1 + (a2 * a2 + a3 * a3);
      if (s < d1) {
        d2 = d1;
        d1 = s;
        b = j;
      } else if (s < d2) {
        d2 = s;
      }
    }
  } else {
    for (let j = 0, q = 0; j < k; j++, q += d) {
      const s = squaredDistance(data, p, centers, q, d);
      if (s < d1) {
        d2 = d1;
        d1 = s;
        b = j;
      } else if (s < d2) {
        d2 = s;
      }
    }
  }
  out[0] = d1;
  out[1] = d2;
  return b;
}

function squaredDistance(a: Float64Array, p: number, b: Float64Array, q: number, d: number): number {
  if (d === 4) {
    const a0 = (a[p] as number) - (b[q] as number);
    const a1 = (a[p + 1] as number) - (b[q + 1] as number);
    const a2 = (a[p + 2] as number) - (b[q + 2] as number);
    const a3 = (a[p + 3] as number) - (b[q + 3] as number);
    return a0 * a0 + a1 * a1 + (a2 * a2 + a3 * a3);
  }
  let s = 0;
  for (let f = 0; f < d; f++) {
    const diff = (a[p + f] as number) - (b[q + f] as number);
    s += diff * diff;
  }
  return s;
}

/**
 * Lloyd's algorithm with Hamerly's bounds from the given centres (modified in place, returned in the result).
 * Stops at a fixed point, when the summed squared centre shift is at most `tol` (after one more assignment
 * pass, so labels are those of the nearest final centre), or after `maxIter` assignment passes. An emptied
 * cluster takes the point farthest from its centre, as scikit-learn does, so k never silently shrinks.
 *
 * Bounds are stored relative to running totals so that a point whose bounds still hold costs two reads and
 * no writes: the true upper bound is `upper[i] + drift[label]` (drift[j] sums centre j's shifts) and the
 * true lower bound is `slack[i] + upper[i] - maxDrift` (maxDrift sums each pass's largest shift), so the
 * common test "lower >= upper" reads only `slack[i]`. This is Hamerly's update, except that the lower bound
 * always drops by the largest shift, not by the largest other one.
 */
export function hamerly(
  data: Float64Array,
  n: number,
  d: number,
  centers: Float64Array,
  k: number,
  maxIter: number,
  tol: number,
  ws: Workspace,
): LloydResult {
  if (n > ws.capacity) throw new RangeError(`${n} rows need a workspace of that capacity`);
  const labels = ws.labels;
  const upper = ws.upper;
  const slack = ws.slack;
  const half = new Float64Array(k);
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  const drift = new Float64Array(k);
  const km1 = k - 1;
  const neighbours = new Int32Array(k * km1);
  const neighbourDistance = new Float64Array(k * km1 + 1).fill(Number.POSITIVE_INFINITY);
  const pair = new Float64Array(2);
  let maxDrift = 0;

  for (let i = 0, p = 0; i < n; i++, p += d) {
    const b = scan(data, p, d, centers, k, pair);
    labels[i] = b;
    const u = Math.sqrt(pair[0] as number);
    upper[i] = u;
    slack[i] = Math.sqrt(pair[1] as number) - u;
    counts[b] = (counts[b] as number) + 1;
    const q = b * d;
    for (let f = 0; f < d; f++) sums[q + f] = (sums[q + f] as number) + (data[p + f] as number);
  }
  let iterations = 1;
  let converged = false;

  while (true) {
    relocateEmpty(data, n, d, centers, k, sums, counts, drift, maxDrift, ws);

    // Update step: move centres to their means and add how far each moved to its drift.
    let totalShift = 0;
    let largest = 0;
    for (let j = 0, q = 0; j < k; j++, q += d) {
      const inv = 1 / (counts[j] as number);
      let s = 0;
      for (let f = 0; f < d; f++) {
        const next = (sums[q + f] as number) * inv;
        const diff = next - (centers[q + f] as number);
        s += diff * diff;
        centers[q + f] = next;
      }
      totalShift += s;
      const m = Math.sqrt(s);
      drift[j] = (drift[j] as number) + m;
      if (m > largest) largest = m;
    }
    maxDrift += largest;
    if (totalShift === 0) {
      converged = true;
      break;
    }
    if (iterations >= maxIter) break;
    const lastPass = totalShift <= tol;

    // Centre-to-centre distances, each centre's others sorted by distance. Half the distance to the nearest
    // other centre bounds the points that must stay put; the sorted list ends a point's search as soon as
    // the remaining centres are provably farther than its second-nearest (see nearestTwo).
    centreDistances(centers, k, d, neighbours, neighbourDistance);

    for (let j = 0; j < k; j++) half[j] = 0.5 * (neighbourDistance[j * km1] as number);

    let changes = 0;
    for (let i = 0, p = 0; i < n; i++, p += d) {
      const a = labels[i] as number;
      const da = drift[a] as number;
      const sl = slack[i] as number;
      // Lower bound (second-nearest) still at least the upper bound (own centre): nothing to do.
      if (sl >= maxDrift + da) continue;
      const stored = upper[i] as number;
      const h = half[a] as number;
      if (stored + da <= h) continue;
      const lo = sl + stored - maxDrift;
      const bound = Math.max(h, lo);
      const u = Math.sqrt(squaredDistance(data, p, centers, a * d, d));
      if (u <= bound) {
        upper[i] = u - da;
        slack[i] = sl + stored - (u - da);
        continue;
      }
      const b = nearestTwo(data, p, d, centers, a, u, neighbours, neighbourDistance, km1, pair);
      const nextUpper = (pair[0] as number) - (drift[b] as number);
      upper[i] = nextUpper;
      slack[i] = (pair[1] as number) + maxDrift - nextUpper;
      if (b !== a) {
        labels[i] = b;
        changes++;
        counts[a] = (counts[a] as number) - 1;
        counts[b] = (counts[b] as number) + 1;
        const qa = a * d;
        const qb = b * d;
        for (let f = 0; f < d; f++) {
          const x = data[p + f] as number;
          sums[qa + f] = (sums[qa + f] as number) - x;
          sums[qb + f] = (sums[qb + f] as number) + x;
        }
      }
    }
    iterations++;
    if (changes === 0 || lastPass) {
      converged = true;
      break;
    }
  }

  return { centers, k, inertia: inertia(data, n, d, centers, labels), iterations, converged };
}

/**
 * Fills, for each centre a, the other centres in increasing distance from a (`neighbours[a*(k-1) + t]`) and
 * those distances. With k = 1 the single slot stays +Infinity: nothing is ever closer.
 */
function centreDistances(
  centers: Float64Array,
  k: number,
  d: number,
  neighbours: Int32Array,
  neighbourDistance: Float64Array,
): void {
  const km1 = k - 1;
  const dist = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    for (let l = j + 1; l < k; l++) {
      const c = Math.sqrt(squaredDistance(centers, j * d, centers, l * d, d));
      dist[j * k + l] = c;
      dist[l * k + j] = c;
    }
  }
  const order: number[] = [];
  for (let a = 0; a < k; a++) {
    order.length = 0;
    for (let j = 0; j < k; j++) if (j !== a) order.push(j);
    order.sort((x, y) => (dist[a * k + x] as number) - (dist[a * k + y] as number) || x - y);
    for (let t = 0; t < km1; t++) {
      const j = order[t] as number;
      neighbours[a * km1 + t] = j;
      neighbourDistance[a * km1 + t] = dist[a * k + j] as number;
    }
  }
}

/**
 * Exact nearest and second-nearest centre of a point at distance u from its centre a, computing as few
 * distances as possible: a centre j lies at least cc(a, j) − u from the point (triangle inequality), so once
 * that exceeds the second-best distance found, j and every centre after it in a's sorted list can be skipped.
 * Writes the two distances (not squared) to `out`; a tie keeps the current centre.
 */
function nearestTwo(
  data: Float64Array,
  p: number,
  d: number,
  centers: Float64Array,
  a: number,
  u: number,
  neighbours: Int32Array,
  neighbourDistance: Float64Array,
  km1: number,
  out: Float64Array,
): number {
  let b = a;
  let d1 = u;
  let d2 = Number.POSITIVE_INFINITY;
  const base = a * km1;
  for (let t = 0; t < km1; t++) {
    if ((neighbourDistance[base + t] as number) - u >= d2) break;
    const j = neighbours[base + t] as number;
    const s = Math.sqrt(squaredDistance(data, p, centers, j * d, d));
    if (s < d1) {
      d2 = d1;
      d1 = s;
      b = j;
    } else if (s < d2) {
      d2 = s;
    }
  }
  out[0] = d1;
  out[1] = d2;
  return b;
}

/**
 * Gives each empty cluster the point farthest from its own centre, taken from a cluster that keeps at least
 * one point. Rare after k-means++ seeding, so an exact O(n·d) pass is affordable when it happens.
 */
function relocateEmpty(
  data: Float64Array,
  n: number,
  d: number,
  centers: Float64Array,
  k: number,
  sums: Float64Array,
  counts: Float64Array,
  drift: Float64Array,
  maxDrift: number,
  ws: Workspace,
): void {
  for (let j = 0; j < k; j++) {
    if ((counts[j] as number) > 0) continue;
    let far = -1;
    let farDistance = -1;
    for (let i = 0, p = 0; i < n; i++, p += d) {
      const a = ws.labels[i] as number;
      if ((counts[a] as number) < 2) continue;
      const s = squaredDistance(data, p, centers, a * d, d);
      if (s > farDistance) {
        farDistance = s;
        far = i;
      }
    }
    if (far < 0) return;
    const a = ws.labels[far] as number;
    const p = far * d;
    counts[a] = (counts[a] as number) - 1;
    counts[j] = 1;
    for (let f = 0; f < d; f++) {
      const x = data[p + f] as number;
      sums[a * d + f] = (sums[a * d + f] as number) - x;
      sums[j * d + f] = x;
    }
    ws.labels[far] = j;
    // Exactly on its new centre: distance 0 is a valid upper bound, and 0 a valid lower bound (both stored
    // relative to the running drifts).
    ws.upper[far] = -(drift[j] as number);
    ws.slack[far] = maxDrift + (drift[j] as number);
  }
}

export function inertia(
  data: Float64Array,
  n: number,
  d: number,
  centers: Float64Array,
  labels: Int32Array,
): number {
  let total = 0;
  for (let i = 0, p = 0; i < n; i++, p += d) {
    total += squaredDistance(data, p, centers, (labels[i] as number) * d, d);
  }
  return total;
}

/** Best of `restarts` seeded runs (lowest inertia; the earlier restart wins a tie). */
export function bestOfRestarts(
  data: Float64Array,
  n: number,
  d: number,
  k: number,
  restarts: number,
  seeds: (restart: number) => number,
  maxIter: number,
  tol: number,
  ws: Workspace,
): LloydResult & { labels: Int32Array } {
  let best: (LloydResult & { labels: Int32Array }) | undefined;
  for (let r = 0; r < restarts; r++) {
    const seeded = seedPlusPlus(data, n, d, k, createRandom(seeds(r)), ws);
    const result = hamerly(data, n, d, seeded.centers, seeded.k, maxIter, tol, ws);
    if (best === undefined || result.inertia < best.inertia) {
      best = { ...result, labels: ws.labels.slice(0, n) };
    }
    // Fewer distinct rows than k: every restart finds the same centres, so one is enough.
    if (seeded.k < k) break;
  }
  if (best === undefined) throw new RangeError("bestOfRestarts needs at least one restart");
  return best;
}
