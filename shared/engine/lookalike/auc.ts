/**
 * Area under the ROC curve as the Mann–Whitney statistic: the share of (positive, negative) pairs in which the
 * positive scores higher, a tie counting ½. Both classes are sorted, then one walk counts for each positive
 * the negatives below it and those equal to it: O(n log n); null when either class is empty.
 */
export function rocAuc(positive: ArrayLike<number>, negative: ArrayLike<number>): number | null {
  const np = positive.length;
  const nn = negative.length;
  if (np === 0 || nn === 0) return null;
  const pos = Float64Array.from(positive).sort();
  const neg = Float64Array.from(negative).sort();
  // below: negatives scoring less than the current positive; upTo: negatives scoring no more than it.
  let below = 0;
  let upTo = 0;
  let wins = 0;
  for (let i = 0; i < np; i++) {
    const s = pos[i] as number;
    while (below < nn && (neg[below] as number) < s) below++;
    if (upTo < below) upTo = below;
    while (upTo < nn && (neg[upTo] as number) <= s) upTo++;
    wins += below + (upTo - below) / 2;
  }
  return wins / (np * nn);
}

/**
 * Hanley & McNeil (1982) standard error of an AUC estimate from `positives` and `negatives` cases; at
 * auc = 0.5 it bounds how far a seed with nothing distinctive may land from 0.5 by chance.
 */
export function hanleyMcNeilSe(auc: number, positives: number, negatives: number): number {
  const q1 = auc / (2 - auc);
  const q2 = (2 * auc * auc) / (1 + auc);
  const variance =
    (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) /
    (positives * negatives);
  return Math.sqrt(variance);
}
