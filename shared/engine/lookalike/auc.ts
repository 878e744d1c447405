/**
 * Area under the ROC curve as the Mann–Whitney statistic: the share of (positive, negative) pairs in which the
 * positive scores higher, a tie counting ½. Computed from mid-ranks of the pooled scores in O(n log n); null
 * when either class is empty.
 */
export function rocAuc(positive: ArrayLike<number>, negative: ArrayLike<number>): number | null {
  const np = positive.length;
  const nn = negative.length;
  if (np === 0 || nn === 0) return null;
  const n = np + nn;
  const scores = new Float64Array(n);
  for (let i = 0; i < np; i++) scores[i] = positive[i] as number;
  for (let i = 0; i < nn; i++) scores[np + i] = negative[i] as number;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (scores[a] as number) - (scores[b] as number));
  // Sum of the positives' ranks (1-based), tied scores sharing the mean of their ranks.
  let rankSum = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    const value = scores[order[start] as number] as number;
    while (end < n && scores[order[end] as number] === value) end++;
    const midRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) if ((order[k] as number) < np) rankSum += midRank;
    start = end;
  }
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
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
