/**
 * The CloudWatch dashboard of the stack and the metrics configuration of its functions: the dashboard's
 * widgets read the namespace and the metric names and dimensions the code writes (taken from
 * shared/metrics.ts, so renaming a metric there without the dashboard following fails here), beside every
 * function's errors and throttles and every dead-letter queue's depth; the functions that write metrics are
 * given that same namespace and service name. Function code is not bundled: none of this depends on it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METRICS_FUNCTIONS, SERVICE_NAME } from "../../infra/stacks/segmentation-stack";
import {
  DELIVERY_OUTCOMES,
  METRICS,
  type MetricSpec,
  metricsNamespace,
  RUN_OUTCOMES,
  RUN_STAGES,
} from "../../shared/metrics";
import { functionProps, removeOutdirs, resourcesOfType, type Synthesized, synth } from "./synth";

let dev: Synthesized;
let prod: Synthesized;

beforeAll(() => {
  dev = synth({}, { bundling: false });
  prod = synth({ stage: "prod" }, { bundling: false });
});
afterAll(removeOutdirs);

interface Widget {
  type: string;
  properties: { title?: string; metrics?: unknown[][] };
}

/** One metric of a widget: namespace, name, dimensions, and the statistic it is drawn with. */
interface Drawn {
  widget: string;
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  stat: string | undefined;
}

/** The dashboard's body, with each reference to a resource written as `<LogicalId>`. */
function widgets(sx: Synthesized): Widget[] {
  const dashboards = Object.values(resourcesOfType(sx.template, "AWS::CloudWatch::Dashboard"));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0]?.Properties?.DashboardBody as { "Fn::Join": [string, unknown[]] } | string;
  const text =
    typeof body === "string"
      ? body
      : body["Fn::Join"][1]
          .map((part) => {
            if (typeof part === "string") return part;
            const p = part as { Ref?: string; "Fn::GetAtt"?: [string, string] };
            if (p.Ref) return `<${p.Ref}>`;
            if (p["Fn::GetAtt"]) return `<${p["Fn::GetAtt"][0]}.${p["Fn::GetAtt"][1]}>`;
            throw new Error(`unexpected part of the dashboard body: ${JSON.stringify(part)}`);
          })
          .join(body["Fn::Join"][0]);
  return (JSON.parse(text) as { widgets: Widget[] }).widgets;
}

function drawn(sx: Synthesized): Drawn[] {
  return widgets(sx).flatMap((w) =>
    (w.properties.metrics ?? []).map((row) => {
      const options = (typeof row.at(-1) === "object" ? row.at(-1) : {}) as { stat?: string };
      const plain = row.filter((x): x is string => typeof x === "string");
      const [namespace = "", name = "", ...pairs] = plain;
      const dimensions: Record<string, string> = {};
      for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i] as string] = pairs[i + 1] as string;
      return { widget: w.properties.title ?? "", namespace, name, dimensions, stat: options.stat };
    }),
  );
}

const own = (sx: Synthesized, namespace: string) => drawn(sx).filter((d) => d.namespace === namespace);

function has(list: Drawn[], spec: MetricSpec, stat: string, dimensions: Record<string, string> = {}) {
  return list.some(
    (d) =>
      d.name === spec.name &&
      d.stat === stat &&
      JSON.stringify(Object.entries(d.dimensions).sort()) ===
        JSON.stringify(Object.entries({ service: SERVICE_NAME, ...dimensions }).sort()),
  );
}

describe("the dashboard", () => {
  it("draws runs by outcome, duration p50 and p99 by stage, rows, items and deliveries from the code's metrics", () => {
    const list = own(dev, metricsNamespace("dev"));
    for (const outcome of RUN_OUTCOMES)
      expect(has(list, METRICS.runs, "Sum", { outcome }), outcome).toBe(true);
    for (const stage of RUN_STAGES) {
      expect(has(list, METRICS.runDuration, "p50", { stage }), `${stage} p50`).toBe(true);
      expect(has(list, METRICS.runDuration, "p99", { stage }), `${stage} p99`).toBe(true);
    }
    for (const spec of [
      METRICS.rowsRead,
      METRICS.rowsRejected,
      METRICS.customersWritten,
      METRICS.itemsWritten,
    ])
      expect(has(list, spec, "Sum"), spec.name).toBe(true);
    for (const outcome of DELIVERY_OUTCOMES)
      expect(has(list, METRICS.deliveries, "Sum", { outcome }), outcome).toBe(true);
  });

  it("draws no metric of the namespace that the code does not write, nor under dimensions it does not use", () => {
    const list = own(dev, metricsNamespace("dev"));
    expect(list.length).toBe(RUN_OUTCOMES.length + 2 * RUN_STAGES.length + 4 + DELIVERY_OUTCOMES.length);
    const specs: MetricSpec[] = Object.values(METRICS);
    for (const d of list) {
      const spec = specs.find((s) => s.name === d.name);
      expect(spec, d.name).toBeDefined();
      const keys = JSON.stringify(Object.keys(d.dimensions).sort());
      expect(
        spec?.dimensions.some((set) => JSON.stringify([...set].sort()) === keys),
        `${d.name} ${keys}`,
      ).toBe(true);
    }
  });

  it("draws every function's errors and throttles and every dead-letter queue's depth", () => {
    const list = drawn(dev);
    for (const [name, fn] of Object.entries(dev.stack.functions)) {
      const id = `<${fn.logicalId}>`;
      for (const metric of ["Errors", "Throttles"])
        expect(
          list.some(
            (d) =>
              d.namespace === "AWS/Lambda" &&
              d.name === metric &&
              d.stat === "Sum" &&
              d.dimensions.FunctionName === id,
          ),
          `${name} ${metric}`,
        ).toBe(true);
    }
    const queues = list.filter(
      (d) =>
        d.namespace === "AWS/SQS" && d.name === "ApproximateNumberOfMessagesVisible" && d.stat === "Maximum",
    );
    // Every queue the alarms watch, each once.
    const alarmed = Object.values(resourcesOfType(dev.template, "AWS::CloudWatch::Alarm"))
      .filter((a) => a.Properties?.MetricName === "ApproximateNumberOfMessagesVisible")
      .map((a) => {
        const [dimension] = (a.Properties?.Dimensions ?? []) as Array<{
          Value: { "Fn::GetAtt": [string, string] };
        }>;
        const [id, attribute] = dimension?.Value["Fn::GetAtt"] ?? ["", ""];
        return `<${id}.${attribute}>`;
      });
    expect(alarmed.length).toBeGreaterThan(5);
    expect(queues.map((q) => q.dimensions.QueueName).sort()).toEqual([...alarmed].sort());
  });

  it("follows the stage's namespace", () => {
    expect(own(prod, metricsNamespace("prod")).length).toBe(own(dev, metricsNamespace("dev")).length);
    expect(own(prod, metricsNamespace("dev"))).toEqual([]);
  });
});

describe("the functions that write metrics", () => {
  it("are given the dashboard's namespace and service name; the others are not", () => {
    for (const [sx, stage] of [
      [dev, "dev"],
      [prod, "prod"],
    ] as const) {
      for (const [name, fn] of Object.entries(sx.stack.functions)) {
        const env = functionProps(sx, fn).Environment.Variables as Record<string, unknown>;
        const writes = (METRICS_FUNCTIONS as readonly string[]).includes(name);
        expect([env.POWERTOOLS_METRICS_NAMESPACE, env.POWERTOOLS_SERVICE_NAME], `${stage} ${name}`).toEqual(
          writes ? [metricsNamespace(stage), SERVICE_NAME] : [undefined, undefined],
        );
      }
    }
    // The functions whose handlers record metrics (functions/*/handler.ts), by the stack's names.
    expect([...METRICS_FUNCTIONS].sort()).toEqual(
      ["compute", "deliver", "refresh", "shardCoordinator", "shardWorkers", "sweeper"].sort(),
    );
  });
});
