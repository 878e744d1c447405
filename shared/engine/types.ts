/**
 * Public types of the segmentation engine. The engine is pure TypeScript: it reads bytes, keeps a compact
 * per-customer state, and computes segments. It never imports an AWS SDK.
 */
import type { AttributeFamilySettings } from "./attribute-families";
import type { BgNbdParams } from "./clv/bgnbd";
import type { GammaGammaParams } from "./clv/gamma-gamma";
import type { ClusterModel, PreviousClusters } from "./kmeans";
import type { LookalikeReport, LookalikeSettings } from "./lookalike";
import type { ListSegmentSettings } from "./memberships";
import type { NbcReport, NextBestCategorySettings } from "./next-best-category";
import type { RfmSettings } from "./rfm";
import type { AttributeType } from "./rules/attributes";

export type FileFormat = "csv" | "ndjson";
export type Compression = "none" | "gzip" | "auto";
export type FileKind = "transactions" | "customers";
export type UploadMode = "append" | "replace";

/** Canonical transaction columns; other headers can be mapped onto them. */
export const TRANSACTION_COLUMNS = [
  "customer_id",
  "order_id",
  "order_date",
  "amount",
  "channel",
  "category",
  "quantity",
  "currency",
] as const;
export type TransactionColumn = (typeof TRANSACTION_COLUMNS)[number];

export interface ReaderOptions {
  format: FileFormat;
  /** "auto" (default) detects gzip from its magic bytes. */
  compression?: Compression;
  /** Canonical column name -> header name in the file, for files that use other headers. */
  columns?: Partial<Record<string, string>>;
}

/**
 * One rejected row. `row` is the file's line number (1-based; a CSV header is line 1, blank lines count) of
 * the line where the rejected record starts: the line a user opens in an editor. A CSV record whose quoted
 * field holds line breaks is numbered by its first line.
 */
export interface RowError {
  row: number;
  column?: string;
  code: string;
  reason: string;
}

export interface IngestReport {
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  /** Orders not seen before this file. */
  ordersAdded: number;
  /** Orders of the file whose order_id the state already held before the file; skipped whole. */
  ordersDuplicate: number;
  /** Rows that were further lines of an order begun earlier in the same file (their amounts were added). */
  orderLinesMerged: number;
}

/** Lifecycle windows in days; see lifecycle.ts for the stage rules. */
export interface LifecycleSettings {
  /** A customer whose first purchase is at most this many days before asOf is new. Default 30. */
  newDays?: number;
  /** A customer whose last purchase is at most this many days before asOf is active. Default 90. */
  activeDays?: number;
  /**
   * A customer whose last purchase is more than this many days before asOf is lapsed (between activeDays and
   * this, at risk); a gap longer than this before a recent purchase makes a customer reactivated. Default 180.
   */
  lapsedDays?: number;
}

/** Behavioural clusters (k-means on standardized RFM features, see kmeans/index.ts). */
export interface ClusterSettings {
  /** Fixed number of clusters; when absent, k is chosen in [kMin, kMax] by silhouette. */
  k?: number;
  /** Default 3. */
  kMin?: number;
  /** Default 8. */
  kMax?: number;
  /** Default 1. */
  seed?: number;
  /** The previous run's clusters (`previousFrom(result.clusters)`), so that cluster ids stay stable. */
  previous?: PreviousClusters;
}

/** Predicted value (a repeat-purchase model chosen by holdout validation, and Gamma-Gamma; see value.ts). */
export interface ValueSettings {
  /** Horizon of expected purchases and CLV, in days. Default 365. */
  horizonDays?: number;
  /** Annual discount rate of future purchases in CLV, e.g. 0.1 for 10 %. Default 0.10. */
  annualDiscountRate?: number;
  /**
   * Length of the holdout window that ends at asOf, in days. Default: a quarter of the observed span from the
   * first order to asOf, at most 365 days.
   */
  holdoutDays?: number;
  /** The repeat-purchase model to serve; "auto" (default) takes the one with the lowest holdout error. */
  model?: "auto" | RepeatModelName;
}

/** A rule segment to evaluate: `rule` is a rule tree as the definition language (rules/schema.ts) has it. */
export interface RuleSegmentSettings {
  /** Segment id, `rule:<slug>` with a slug of lower-case letters, digits and '-' (at most 64). */
  id: string;
  name: string;
  description?: string;
  rule: unknown;
}

/** Settings that shape a computation. Everything but asOf is optional and has a documented default. */
export interface ComputeSettings {
  /** Evaluation date, ISO yyyy-mm-dd (UTC). Recency is measured to this day. */
  asOf: string;
  lifecycle?: LifecycleSettings;
  /** Fixed score thresholds for R, F and M (rfm.ts); without them the scores come from the data. */
  rfm?: RfmSettings;
  /** false skips clustering. Default: on, k chosen in [3, 8], seed 1. */
  clusters?: false | ClusterSettings;
  /** false skips the value models. Default: on, 365 days, 10 % a year. */
  value?: false | ValueSettings;
  rules?: readonly RuleSegmentSettings[];
  /** List segments: customer ids the business keeps by hand (memberships.ts). */
  lists?: readonly ListSegmentSettings[];
  /**
   * Declared types of customer attributes for rule segments; other attributes have their type inferred from
   * their values (rules/attributes.ts).
   */
  attributeTypes?: Readonly<Record<string, AttributeType>>;
  /** Attribute families: one family of segments per customer attribute (attribute-families.ts). */
  attributeFamilies?: readonly AttributeFamilySettings[];
  /** false turns it off. Default: on, measured in the RFM family, 90 days held out, k = 10 (next-best-category.ts). */
  nextBestCategory?: false | NextBestCategorySettings;
  /** Lookalike segments, computed after the rule segments (lookalike/index.ts). */
  lookalikes?: readonly LookalikeSettings[];
}

/** Something a computation skipped or could only do in part, e.g. too few customers to cluster. */
export interface ComputeIssue {
  /** Machine-readable, e.g. "CLUSTERS_TOO_FEW_CUSTOMERS", "VALUE_NO_REPEAT_PURCHASES", "RULE_UNKNOWN_ATTRIBUTE". */
  code: string;
  message: string;
  /** The stage it concerns; "data" for the data as a whole, e.g. STALE_DATA (evaluation-date.ts). */
  stage:
    | "data"
    | "clusters"
    | "value"
    | "rules"
    | "lists"
    | "profiles"
    | "nextBestCategory"
    | "lookalikes"
    | "attributes";
  /** For a rule segment: its id. */
  segment?: string;
  /** For a rule segment: the condition at fault, e.g. "rule.and[1]". */
  path?: string;
}

/** The repeat-purchase models the value stage can fit (clv/): BG/NBD, Pareto/NBD, MBG/NBD. */
export type RepeatModelName = "bgNbd" | "paretoNbd" | "mbgNbd";

/** One repeat-purchase model fitted by maximum likelihood (parameters in days, as the time unit says). */
export interface RepeatModelFitSummary {
  /** BG/NBD and MBG/NBD: r, alpha, a, b; Pareto/NBD: r, alpha, s, beta. */
  params: Record<string, number>;
  logLikelihood: number;
  converged: boolean;
  /** Parameters that ended at the edge of the search box. */
  atBoundary: string[];
}

/** One model's accuracy over the holdout window, fitted on the calibration part only. */
export interface HoldoutModelAccuracy {
  fit: RepeatModelFitSummary;
  /** Σ over calibration customers of the predicted repeat purchases in the holdout window. */
  predictedRepeatPurchases: number;
  /** Mean absolute error and root mean squared error per customer (actual − predicted holdout purchases). */
  mae: number;
  rmse: number;
}

/** Mean actual vs mean predicted holdout purchases of the calibration customers with one calibration frequency. */
export interface ConditionalExpectationRow {
  /** Repeat purchases in the calibration period: 0, 1, …, 6, and 7 for "7 or more". */
  frequency: number;
  /** "0", "1", …, "6", "7+". */
  label: string;
  customers: number;
  meanActual: number;
  /** Mean predicted holdout purchases per model fitted (a model whose fit failed is absent). */
  meanPredicted: Partial<Record<RepeatModelName, number>>;
}

/**
 * Holdout validation of the repeat-purchase models: fitted on the orders up to calibrationEnd, compared with
 * what the calibration customers did in (calibrationEnd, asOf].
 */
export interface ValueValidation {
  /** Last day (ISO yyyy-mm-dd) of the calibration period. */
  calibrationEnd: string;
  asOf: string;
  holdoutDays: number;
  /** Customers with a purchase on or before calibrationEnd (the ones predicted). */
  customers: number;
  /** Their repeat purchases (distinct purchase days) in the holdout window. */
  actualRepeatPurchases: number;
  /** Per model fitted on the calibration part; a model whose fit failed is absent. */
  models: Partial<Record<RepeatModelName, HoldoutModelAccuracy>>;
  /** The selection metric. */
  metric: "mae";
  /** The model with the lowest metric (tie rule in value.ts). */
  selected: RepeatModelName;
  conditionalExpectations: ConditionalExpectationRow[];
}

/** The fitted value models and the settings the predictions used. */
export interface ValueModelSummary {
  /** Time unit of the repeat-purchase models' parameters (alpha is a rate per day). */
  timeUnit: "day";
  horizonDays: number;
  annualDiscountRate: number;
  /** The repeat-purchase model whose predictions are served. */
  selectedModel: RepeatModelName;
  /**
   * How it was chosen: "holdout" (lowest holdout error), "setting" (named in the value settings), "default"
   * (no holdout validation possible; see value.ts for the default model).
   */
  selection: "holdout" | "setting" | "default";
  /** Each repeat-purchase model fitted on all the data (the selected one at least). */
  models: Partial<Record<RepeatModelName, RepeatModelFitSummary>>;
  /** The holdout validation; null when it could not be done (see validationSkipped). */
  validation: ValueValidation | null;
  /** Why there is no holdout validation, e.g. too little history. */
  validationSkipped?: { code: string; message: string };
  /** BG/NBD's parameters when BG/NBD is the selected model; consumers read models[selectedModel]. */
  bgNbd?: BgNbdParams;
  /** null when Gamma-Gamma could not be fitted; order values then come from each customer's own history. */
  gammaGamma: GammaGammaParams | null;
  /** Log-likelihoods of the selected repeat-purchase model (under its name) and of Gamma-Gamma. */
  logLikelihoods: Partial<Record<RepeatModelName, number>> & { gammaGamma: number | null };
  converged: Partial<Record<RepeatModelName, boolean>> & { gammaGamma: boolean | null };
  /** Customers the models were fitted on, and those of them with a repeat purchase. */
  customers: number;
  repeatCustomers: number;
}

export type SegmentFamily = "rfm" | "cluster" | "lifecycle" | "rule" | "list" | "attr" | "lookalike";

export interface SegmentSummary {
  /** Stable id, `<family>:<slug>`, e.g. "rfm:champions". */
  id: string;
  family: SegmentFamily;
  name: string;
  description: string;
  size: number;
  /** size / customers with at least one order. */
  share: number;
  /** Net revenue of the members. */
  revenue: number;
  revenueShare: number;
  /** Net revenue / orders of the members (0 when they have no orders). */
  averageOrderValue: number;
  /** Mean CLV of the members; null when the value models are absent or the segment is empty. */
  meanClv: number | null;
  /**
   * 80 % interval of the mean CLV from the models' parameter uncertainty (value.ts); null when meanClv is or
   * when no interval could be computed.
   */
  meanClvLow: number | null;
  meanClvHigh: number | null;
  /**
   * Mean probability that a member is still active (1 − churn risk); null when the value models are absent or
   * the segment is empty. When the selected model is BG/NBD, which holds every customer without a repeat
   * purchase alive with probability 1 by construction, the mean is over the members with a repeat purchase
   * only (null when there are none).
   */
  meanProbabilityAlive: number | null;
  /** List segments only: distinct ids on the list that are not customers of this computation (memberships.ts). */
  unknownIds?: number;
  /** Lookalike segments only: the seed, the model's held-out AUC and its weightiest features (lookalike/). */
  lookalike?: LookalikeReport;
  /** Attribute segments only: the attribute and value the segment stands for (attribute-families.ts). */
  attribute?: SegmentAttribute;
}

/**
 * What an attribute segment stands for: `value` is the value text of a categorical value, the band label
 * ("10 to under 20") or the cohort ("2024 Q1"); null for "other" and "unknown".
 */
export interface SegmentAttribute {
  name: string;
  value: string | null;
  kind: "value" | "other" | "unknown" | "band" | "cohort";
}

/** Everything computed for one customer. */
export interface CustomerScores {
  customerId: string;
  firstPurchase: string;
  lastPurchase: string;
  recencyDays: number;
  frequency: number;
  monetary: number;
  r: number;
  f: number;
  m: number;
  /** The three scores as a string, e.g. "545". */
  rfm: string;
  /** Lifecycle stage id, e.g. "lifecycle:active". */
  lifecycle: string;
  /** Cluster id, e.g. "cluster:c2", and its name; absent when clusters were not computed. */
  cluster?: string;
  clusterName?: string;
  /** Absent when the value models were not computed. */
  probabilityAlive?: number;
  /** Expected purchases (distinct purchase days) over the value horizon. */
  expectedPurchases?: number;
  /** 80 % interval of expectedPurchases from the parameters' uncertainty (value.ts). */
  expectedPurchasesLow?: number;
  expectedPurchasesHigh?: number;
  clv?: number;
  /** 80 % interval of clv from the parameters' uncertainty (value.ts). */
  clvLow?: number;
  clvHigh?: number;
  /** Repeat purchases the models saw: distinct purchase days − 1. */
  repeatPurchases?: number;
  /** The category recommended next (next-best-category.ts); absent when there is none. */
  nextBestCategory?: string;
  /** Segment ids of every family the customer belongs to, e.g. ["rfm:champions", "lifecycle:active"]. */
  segments: string[];
}

/**
 * Everything besides a customer's inputs that the batch prediction used (clv/served.ts): what a reader needs
 * to predict one customer exactly as the result did.
 */
export interface ServedValueModel {
  /** The unit of the inputs' days and of the models' rates. */
  timeUnit: "day";
  /** The served repeat-purchase model and its parameters (named as in its paramNames). */
  repeat: { model: RepeatModelName; params: Record<string, number> };
  /** null: order values come from the fallbacks. */
  gammaGamma: GammaGammaParams | null;
  /** The CLV horizon, discounting and margin (clv/horizon.ts ClvOptions, every field given). */
  clv: {
    horizonPeriods: number;
    periodsPerYear: number;
    timeUnitsPerYear: number;
    annualDiscountRate: number;
    margin: number;
  };
  /**
   * Row-major covariances of the log-parameters (the repeat model's in paramNames order; Gamma-Gamma's
   * (log p, log q, log γ), null when order values count as known); null: no intervals.
   */
  covariances: { repeat: number[]; gammaGamma: number[] | null } | null;
  /** The order value of the last fallback: the x-weighted mean m_x of the customers with repeat orders. */
  pooledOrderValue: number;
}

/** One customer's value-model inputs, in days (value.ts customerValueInputs). */
export interface CustomerValueInputs {
  /** Repeat purchases (distinct purchase days − 1). */
  x: number;
  /** Last purchase day − first purchase day. */
  tx: number;
  /** The first purchase day (days since 1970-01-01); T = asOf day − this. */
  firstDay: number;
  /** Mean value of the repeat purchases. */
  mx: number;
  /** The customer's own order value, used when Gamma-Gamma gives none. */
  fallbackOrderValue: number;
}

export interface SegmentationResult {
  asOf: string;
  customerCount: number;
  segments: SegmentSummary[];
  /** The cluster model, when clusters were computed. */
  clusters?: ClusterModel;
  /** The value models, when they could be fitted. */
  value?: ValueModelSummary;
  /** What a reader needs to predict one customer as the result did (clv/served.ts); with `value`. */
  servedValue?: ServedValueModel;
  /** The value models' inputs of the customer at position i; undefined without `servedValue`. */
  valueInputsOf?(i: number): CustomerValueInputs | undefined;
  /** The next best category's hit rate on held-out orders, or why it was skipped; absent when turned off. */
  nextBestCategory?: NbcReport;
  /** Parts skipped or done in part, with the reason. */
  issues: ComputeIssue[];
  /** Milliseconds per stage: rfm, lifecycle, clusters, value, rules (0 for a stage skipped). */
  timings: Record<string, number>;
  /** Scores of the customer at position i (0 <= i < customerCount), in state order. */
  customer(i: number): CustomerScores;
}
