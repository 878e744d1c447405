/**
 * Words for a cluster, read from its centroid's z-scores (centroid minus population mean, in population
 * standard deviations), one word per feature:
 *
 *   z <= -1.5 very low · -1.5 < z <= -0.5 low · -0.5 < z < 0.5 mid · 0.5 <= z < 1.5 high · z >= 1.5 very high
 *
 * A first pass uses three grades (low, mid, high) for the primary features (frequency, spend, recency) and
 * leaves secondary features (basket size) out. Only clusters whose words collide with another cluster's are
 * refined: first secondary features are added (when not mid), then all five grades are used, and a cluster
 * that still collides gets a numeric suffix. So most names stay short ("frequent, high spend, recent") and
 * names are distinct.
 *
 * Frequency has one rule in original units: a centroid at fewer than 1.5 orders (log1p below log 2.5) is
 * "one-time" whatever its z-score, since the population mean can itself be close to one order.
 */

export const DESCRIBE_THRESHOLDS = { grade: 0.5, strong: 1.5, oneTimeOrders: 1.5 } as const;

interface Vocabulary {
  /** Words for very low, low, mid, high, very high; "" leaves the feature out at that grade. */
  words: readonly [string, string, string, string, string];
  secondary?: boolean;
  /** Word that overrides the grade, decided from the centroid in original units. */
  override?: (value: number) => string | undefined;
}

const VOCABULARY: Record<string, Vocabulary> = {
  logFrequency: {
    words: ["rare", "infrequent", "occasional", "frequent", "very frequent"],
    override: (value) => (Math.expm1(value) < DESCRIBE_THRESHOLDS.oneTimeOrders ? "one-time" : undefined),
  },
  logMonetary: { words: ["very low spend", "low spend", "mid spend", "high spend", "very high spend"] },
  recencyDays: { words: ["very recent", "recent", "lapsing", "lapsed", "long lapsed"] },
  logAverageOrderValue: {
    words: ["very small baskets", "small baskets", "", "big baskets", "very big baskets"],
    secondary: true,
  },
};

function vocabularyFor(name: string): Vocabulary {
  return (
    VOCABULARY[name] ?? {
      words: [`very low ${name}`, `low ${name}`, `mid ${name}`, `high ${name}`, `very high ${name}`],
    }
  );
}

/** Grade index 0..4 (very low .. very high); with `fine` false the extremes fold into low/high. */
function grade(z: number, fine: boolean): number {
  const { grade: g, strong } = DESCRIBE_THRESHOLDS;
  if (z <= -g) return fine && z <= -strong ? 0 : 1;
  if (z >= g) return fine && z >= strong ? 4 : 3;
  return 2;
}

function wordsAt(
  level: number,
  names: readonly string[],
  z: readonly number[],
  original: readonly number[],
): string {
  const words: string[] = [];
  names.forEach((name, f) => {
    const vocabulary = vocabularyFor(name);
    if (vocabulary.secondary && level < 1) return;
    const overridden = vocabulary.override?.(original[f] as number);
    const word = overridden ?? vocabulary.words[grade(z[f] as number, level >= 2)];
    if (word !== undefined && word !== "") words.push(word);
  });
  return words.length > 0 ? words.join(", ") : "typical";
}

/**
 * Descriptions for every cluster, distinct where the centroids allow. `z[c]` and `original[c]` are cluster
 * c's centroid in z-scores and in original units; `names` are the feature names in the same order.
 */
export function describeClusters(
  names: readonly string[],
  z: readonly (readonly number[])[],
  original: readonly (readonly number[])[],
): string[] {
  const text = z.map((zc, c) => wordsAt(0, names, zc, original[c] ?? []));
  for (let round = 1; round <= 2; round++) {
    const colliding = collisions(text);
    if (colliding.size === 0) return text;
    for (const c of colliding) {
      text[c] = wordsAt(round, names, z[c] ?? [], original[c] ?? []);
    }
  }
  const seen = new Map<string, number>();
  return text.map((t) => {
    const count = (seen.get(t) ?? 0) + 1;
    seen.set(t, count);
    return count === 1 && !hasDuplicate(text, t) ? t : `${t} (${count})`;
  });
}

function hasDuplicate(text: readonly string[], t: string): boolean {
  return text.indexOf(t) !== text.lastIndexOf(t);
}

function collisions(text: readonly string[]): Set<number> {
  const out = new Set<number>();
  text.forEach((t, c) => {
    if (hasDuplicate(text, t)) out.add(c);
  });
  return out;
}
