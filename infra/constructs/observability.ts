/**
 * Alarms that tell an operator something needs a look: any function error or throttle, and any message in
 * a dead-letter queue (each one is an upload or a refresh that did not complete). Alarms are exposed so an
 * action (an SNS topic, a pager) can be attached to all of them in one place.
 *
 * And a CloudWatch dashboard of the service's runs, from the metrics its functions write (shared/metrics.ts,
 * whose names and dimensions it reads): runs by outcome, run duration p50 and p99 by stage, rows read and
 * rejected, customers and items written, webhook deliveries; beside them every function's errors and
 * throttles and every dead-letter queue's depth.
 */
import { Duration } from "aws-cdk-lib";
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  TextWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { DELIVERY_OUTCOMES, METRICS, type MetricSpec, RUN_OUTCOMES, RUN_STAGES } from "../../shared/metrics";
import type { ServiceFunction } from "./service-function";

export interface ObservabilityProps {
  /** Functions to watch, by a short name used in alarm ids and descriptions. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** Dead-letter queues to watch, by a short name. */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  /** Namespace and service dimension of the metrics the functions write (their POWERTOOLS_* variables). */
  readonly metrics: { readonly namespace: string; readonly service: string };
}

const PERIOD = Duration.minutes(5);

/** "readApi" -> "ReadApi", for construct ids. */
const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

export class Observability extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);

    for (const [name, fn] of Object.entries(props.functions)) {
      this.alarm(`${pascal(name)}Errors`, fn.fn.metricErrors({ period: PERIOD, statistic: "Sum" }), {
        description: `${name}: at least one invocation failed`,
        threshold: 1,
        comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
      this.alarm(`${pascal(name)}Throttles`, fn.fn.metricThrottles({ period: PERIOD, statistic: "Sum" }), {
        description: `${name}: at least one invocation was throttled`,
        threshold: 1,
        comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
    }

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.alarm(
        `${pascal(name)}Depth`,
        queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: "Maximum" }),
        {
          description: `${name}: dead letters are waiting; inspect and redrive them`,
          threshold: 0,
          comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
        },
      );
    }

    this.dashboard = this.buildDashboard(props);
  }

  private buildDashboard(props: ObservabilityProps): Dashboard {
    const { namespace, service } = props.metrics;
    const own = (
      spec: MetricSpec,
      statistic: string,
      dimensions: Record<string, string> = {},
      label?: string,
    ) =>
      new Metric({
        namespace,
        metricName: spec.name,
        dimensionsMap: { service, ...dimensions },
        statistic,
        period: PERIOD,
        ...(label ? { label } : {}),
      });
    const graph = (title: string, left: IMetric[], right: IMetric[] = []) =>
      new GraphWidget({ title, left, right, width: 12, height: 6 });
    const functions = Object.entries(props.functions);
    const dashboard = new Dashboard(this, "Dashboard", {
      defaultInterval: Duration.days(1),
      widgets: [
        [
          new TextWidget({
            markdown: `## Segmentation runs\nMetrics of namespace \`${namespace}\`, service \`${service}\` (README: "Metrics and the dashboard").`,
            width: 24,
            height: 2,
          }),
        ],
        [
          graph(
            "Runs by outcome",
            RUN_OUTCOMES.map((outcome) => own(METRICS.runs, "Sum", { outcome }, outcome)),
          ),
          graph(
            "Rows read and rejected",
            [own(METRICS.rowsRead, "Sum", {}, "read")],
            [own(METRICS.rowsRejected, "Sum", {}, "rejected")],
          ),
        ],
        [
          graph(
            "Run duration p50 by stage (ms)",
            RUN_STAGES.map((stage) => own(METRICS.runDuration, "p50", { stage }, stage)),
          ),
          graph(
            "Run duration p99 by stage (ms)",
            RUN_STAGES.map((stage) => own(METRICS.runDuration, "p99", { stage }, stage)),
          ),
        ],
        [
          graph("Items written", [
            own(METRICS.itemsWritten, "Sum", {}, "items"),
            own(METRICS.customersWritten, "Sum", {}, "customers"),
          ]),
          graph(
            "Webhook deliveries",
            DELIVERY_OUTCOMES.map((outcome) => own(METRICS.deliveries, "Sum", { outcome }, outcome)),
          ),
        ],
        [
          graph(
            "Function errors",
            functions.map(([name, fn]) =>
              fn.fn.metricErrors({ period: PERIOD, statistic: "Sum", label: name }),
            ),
          ),
          graph(
            "Function throttles",
            functions.map(([name, fn]) =>
              fn.fn.metricThrottles({ period: PERIOD, statistic: "Sum", label: name }),
            ),
          ),
        ],
        [
          graph(
            "Dead-letter queue depths",
            Object.entries(props.deadLetterQueues).map(([name, queue]) =>
              queue.metricApproximateNumberOfMessagesVisible({
                period: PERIOD,
                statistic: "Maximum",
                label: name,
              }),
            ),
          ),
        ],
      ],
    });
    return dashboard;
  }

  private alarm(
    id: string,
    metric: IMetric,
    opts: { description: string; threshold: number; comparison: ComparisonOperator },
  ): void {
    this.alarms.push(
      new Alarm(this, id, {
        metric,
        alarmDescription: opts.description,
        threshold: opts.threshold,
        comparisonOperator: opts.comparison,
        evaluationPeriods: 1,
        // No data means no invocations or an empty queue: nothing is wrong.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
  }
}
