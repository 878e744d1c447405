/**
 * The behavioural features clustered per customer, built from RFM values. Order counts and spend are heavily
 * right-skewed (geometric and lognormal in practice), so they enter as log(1 + x): on a raw scale a handful of
 * very large customers would claim clusters of their own and everyone else would share the rest. Recency is
 * roughly uniform over the observation window and enters as days. Refunds can make net spend negative; spend
 * is floored at 0 before the log.
 */
import { ClusteringInputError } from "./errors";

export const CUSTOMER_FEATURES = [
  "logFrequency",
  "logMonetary",
  "recencyDays",
  "logAverageOrderValue",
] as const;
export type CustomerFeature = (typeof CUSTOMER_FEATURES)[number];

export interface CustomerValues {
  /** Orders per customer. */
  frequency: ArrayLike<number>;
  /** Net spend per customer. */
  monetary: ArrayLike<number>;
  /** Days from the last order to the evaluation date. */
  recencyDays: ArrayLike<number>;
}

export function customerFeatures(values: CustomerValues): Record<CustomerFeature, Float64Array> {
  const n = values.frequency.length;
  for (const field of ["monetary", "recencyDays"] as const) {
    if (values[field].length !== n) {
      throw new ClusteringInputError(
        "CLUSTERING_LENGTH_MISMATCH",
        `${field} has ${values[field].length} values but frequency has ${n}`,
        field,
      );
    }
  }
  const logFrequency = new Float64Array(n);
  const logMonetary = new Float64Array(n);
  const recencyDays = new Float64Array(n);
  const logAverageOrderValue = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const f = values.frequency[i] as number;
    const spend = Math.max(values.monetary[i] as number, 0);
    if (!(f >= 0)) {
      throw new ClusteringInputError(
        "CLUSTERING_NON_FINITE",
        "frequency must be a number >= 0",
        "frequency",
        i,
      );
    }
    logFrequency[i] = Math.log1p(f);
    logMonetary[i] = Math.log1p(spend);
    recencyDays[i] = values.recencyDays[i] as number;
    logAverageOrderValue[i] = f > 0 ? Math.log1p(spend / f) : 0;
  }
  return { logFrequency, logMonetary, recencyDays, logAverageOrderValue };
}
