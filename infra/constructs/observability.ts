/**
 * Alarms that tell an operator something needs a look: any function error or throttle, and any message in
 * a dead-letter queue (each one is an upload or a refresh that did not complete). Alarms are exposed so an
 * action (an SNS topic, a pager) can be attached to all of them in one place.
 */
import { Duration } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { ServiceFunction } from "./service-function";

export interface ObservabilityProps {
  /** Functions to watch, by a short name used in alarm ids and descriptions. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** Dead-letter queues to watch, by a short name. */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
}

const PERIOD = Duration.minutes(5);

/** "readApi" -> "ReadApi", for construct ids. */
const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

export class Observability extends Construct {
  readonly alarms: Alarm[] = [];

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
