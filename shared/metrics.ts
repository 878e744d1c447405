/**
 * The service's own CloudWatch metrics, written as embedded metric format (EMF) log lines through Powertools'
 * Metrics: every metric, its unit and its dimensions are named here once, and the Lambda handlers record them
 * from what the pipeline and the delivery worker already return (a run's record, a delivery pass). The engine
 * and the pipeline know nothing of it.
 *
 * Dimensions come from a closed set (service, function_name, outcome, trigger, stage) whose values are the
 * service's own words (the run trigger and status enums, the stage names below): never a tenant, a dataset, a
 * customer id or an attribute, so no customer data can reach a metric dimension (reliability property 11).
 *
 * Metrics are written inside Lambda only (AWS_LAMBDA_FUNCTION_NAME set). Anywhere else, the local service and
 * the tests, Powertools would print every EMF blob to stdout; there they are written only when
 * POWERTOOLS_METRICS_DISABLED is set to a false value, and POWERTOOLS_METRICS_DISABLED=true turns them off in
 * Lambda too.
 */
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { DeliveryPass } from "./destinations/deliver";
import type { RunRecord } from "./model";

/** The namespace of a stage's metrics; the stack sets it as POWERTOOLS_METRICS_NAMESPACE. */
export function metricsNamespace(stage: string): string {
  return `Segmentation/${stage}`;
}

/** The dimension names any metric of the service may carry, and no other. */
export const DIMENSIONS = {
  service: "service",
  /** Powertools' own name for the function of the ColdStart metric. */
  function: "function_name",
  outcome: "outcome",
  trigger: "trigger",
  stage: "stage",
} as const;
export type DimensionName = (typeof DIMENSIONS)[keyof typeof DIMENSIONS];

/** Final states of a run that are counted: a run ends in exactly one of them. */
export const RUN_OUTCOMES = ["succeeded", "failed", "skipped", "abandoned"] as const;
export type RunMetricOutcome = (typeof RUN_OUTCOMES)[number];

/** What started a run (the run record's trigger). */
export const RUN_TRIGGERS = [
  "upload",
  "refresh",
  "settings",
  "definitions",
  "erasure",
] as const satisfies ReadonlyArray<RunRecord["trigger"]>;

/**
 * Stages of a run's duration, from its record's timingsMs: read is the stored state loaded plus the uploaded
 * file read (loadMs + readMs), compute the engine (computeMs), write the table and files written (writeMs),
 * total from start to finish (totalMs).
 */
export const RUN_STAGES = ["read", "compute", "write", "total"] as const;
export type RunStage = (typeof RUN_STAGES)[number];

/**
 * Webhook delivery outcomes: an attempt that reached a 2xx, an attempt that failed (retried later or the
 * last one), and a destination disabled because a delivery failed every attempt of its schedule.
 */
export const DELIVERY_OUTCOMES = ["delivered", "failed_attempt", "destination_disabled"] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

export interface MetricSpec {
  readonly name: string;
  readonly unit: Unit;
  /** Each dimension set the metric is published under (service included, as Powertools adds it). */
  readonly dimensions: ReadonlyArray<ReadonlyArray<DimensionName>>;
  readonly description: string;
}

/** Every metric the service writes. */
export const METRICS = {
  runs: {
    name: "Runs",
    unit: MetricUnit.Count,
    dimensions: [
      ["service", "outcome"],
      ["service", "outcome", "trigger"],
    ],
    description:
      "Runs that ended, by outcome (succeeded, failed, skipped; abandoned by the sweeper, which knows no trigger) and trigger",
  },
  runDuration: {
    name: "RunDuration",
    unit: MetricUnit.Milliseconds,
    dimensions: [["service", "stage"]],
    description: "A finished run's time by stage (read, compute, write, total)",
  },
  rowsRead: {
    name: "RowsRead",
    unit: MetricUnit.Count,
    dimensions: [["service"], ["service", "trigger"]],
    description: "Rows of uploaded files read by runs that ended",
  },
  rowsRejected: {
    name: "RowsRejected",
    unit: MetricUnit.Count,
    dimensions: [["service"], ["service", "trigger"]],
    description: "Rows rejected (each in the run's rejected-rows report)",
  },
  customersWritten: {
    name: "CustomersWritten",
    unit: MetricUnit.Count,
    dimensions: [["service"], ["service", "trigger"]],
    description: "Customer items written to the table",
  },
  itemsWritten: {
    name: "ItemsWritten",
    unit: MetricUnit.Count,
    dimensions: [["service"], ["service", "trigger"]],
    description: "Table items written by a run: customers, memberships and history records",
  },
  deliveries: {
    name: "WebhookDeliveries",
    unit: MetricUnit.Count,
    dimensions: [["service", "outcome"]],
    description: "Webhook delivery attempts by outcome (delivered, failed_attempt, destination_disabled)",
  },
  coldStart: {
    name: "ColdStart",
    unit: MetricUnit.Count,
    dimensions: [["service", "function_name"]],
    description: "Cold starts of the functions that write metrics (Powertools' own metric)",
  },
} as const satisfies Record<string, MetricSpec>;

const TRUE = new Set(["1", "true", "yes", "on", "y"]);

/** Whether metrics are written in this process (see the module header). */
export function metricsEnabled(env: Record<string, string | undefined> = process.env): boolean {
  const disabled = env.POWERTOOLS_METRICS_DISABLED;
  if (disabled !== undefined) return !TRUE.has(disabled.trim().toLowerCase());
  return env.AWS_LAMBDA_FUNCTION_NAME !== undefined && env.AWS_LAMBDA_FUNCTION_NAME !== "";
}

const enabled = metricsEnabled();

/**
 * The function's Metrics: namespace and service from POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME
 * (the stack sets both), the ColdStart metric's function_name from the function's own name.
 */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || metricsNamespace("dev"),
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || process.env.SERVICE_NAME || "segmentation",
  ...(process.env.AWS_LAMBDA_FUNCTION_NAME ? { functionName: process.env.AWS_LAMBDA_FUNCTION_NAME } : {}),
});

type Dimensions = Partial<Record<Exclude<DimensionName, "service" | "function_name">, string>>;

/**
 * Writes one EMF line at once: `values` of `specs` under each dimension set (service added to each). The
 * buffer is flushed here, so a line never carries another record's dimensions.
 */
function publish(
  specs: ReadonlyArray<MetricSpec>,
  dimensionSets: ReadonlyArray<Dimensions>,
  values: ReadonlyArray<number>,
): void {
  if (!enabled) return;
  for (const set of dimensionSets) {
    metrics.addDimensions(set as Record<string, string>);
  }
  specs.forEach((spec, i) => {
    metrics.addMetric(spec.name, spec.unit, values[i] ?? 0);
  });
  metrics.publishStoredMetrics();
}

/** The counts and timings of a run that ended, as its record holds them. */
export type EndedRun = Pick<RunRecord, "trigger" | "status" | "counts" | "timingsMs">;

/** The stage durations of a run record, in ms (stages the record does not time are left out). */
export function stageDurations(
  timingsMs: Record<string, number> | undefined,
): Partial<Record<RunStage, number>> {
  if (!timingsMs) return {};
  const out: Partial<Record<RunStage, number>> = {};
  if (timingsMs.loadMs !== undefined || timingsMs.readMs !== undefined)
    out.read = (timingsMs.loadMs ?? 0) + (timingsMs.readMs ?? 0);
  if (timingsMs.computeMs !== undefined) out.compute = timingsMs.computeMs;
  if (timingsMs.writeMs !== undefined) out.write = timingsMs.writeMs;
  if (timingsMs.totalMs !== undefined) out.total = timingsMs.totalMs;
  return out;
}

/**
 * Items a run wrote to the table: its customer items, which carry the history (`historyWritten` counts entries
 * inside them, no items), and the membership items of runs recorded before member pages.
 */
export function itemsWritten(counts: RunRecord["counts"]): number {
  return (counts?.customersWritten ?? 0) + (counts?.membershipsWritten ?? 0);
}

/** Records a run that ended (succeeded, failed or skipped): its outcome, stage durations and volumes. */
export function recordRun(run: EndedRun): void {
  if (run.status !== "succeeded" && run.status !== "failed" && run.status !== "skipped") return;
  const trigger = run.trigger;
  recordRunOutcome(run.status, trigger);
  for (const [stage, ms] of Object.entries(stageDurations(run.timingsMs)))
    publish([METRICS.runDuration], [{ stage }], [ms]);
  const counts = run.counts;
  if (!counts) return;
  publish(
    [METRICS.rowsRead, METRICS.rowsRejected, METRICS.customersWritten, METRICS.itemsWritten],
    [{}, { trigger }],
    [counts.rowsRead ?? 0, counts.rowsRejected ?? 0, counts.customersWritten ?? 0, itemsWritten(counts)],
  );
}

/** Records a run that ended with no record at hand (a skipped upload): its outcome only. */
export function recordRunOutcome(outcome: RunMetricOutcome, trigger: RunRecord["trigger"]): void {
  // Two lines rather than two dimension sets in one: Powertools warns of a key shared by two sets.
  publish([METRICS.runs], [{ outcome }], [1]);
  publish([METRICS.runs], [{ outcome, trigger }], [1]);
}

/** Records the runs a sweep closed as abandoned (the sweep's report has no trigger). */
export function recordAbandoned(count: number): void {
  if (count > 0) publish([METRICS.runs], [{ outcome: "abandoned" }], [count]);
}

/** Records a delivery pass's attempts: a failed attempt of the last retry also disables its destination. */
export function recordDeliveries(pass: Pick<DeliveryPass, "delivered" | "retried" | "failed">): void {
  const values: Record<DeliveryOutcome, number> = {
    delivered: pass.delivered,
    failed_attempt: pass.retried + pass.failed,
    destination_disabled: pass.failed,
  };
  for (const outcome of DELIVERY_OUTCOMES) {
    if (values[outcome] > 0) publish([METRICS.deliveries], [{ outcome }], [values[outcome]]);
  }
}

/**
 * The middy middleware of a function that writes metrics: its ColdStart metric, once per execution
 * environment. Powertools' logMetrics is not used: it flushes the buffer after every invocation and warns
 * when it is empty, while every metric here is written as it is recorded.
 */
export function metricsMiddleware(): { before: (request: { context: { functionName?: string } }) => void } {
  return {
    before: (request) => {
      if (enabled) metrics.captureColdStartMetric(request.context.functionName);
    },
  };
}
