/**
 * The webhook delivery path (shared/destinations/deliver.ts): a committed run puts each webhook body in its
 * destination's outbox (a table item, the body under deliveries/ in the bucket) and sends a wake-up message
 * `{tenantId, datasetId, destinationId}` to the delivery queue; the `deliver` function, fed by that queue,
 * takes the destination's lease and sends its pending deliveries in order. Retries are the outbox's own
 * schedule (5 s to 10 h, over 24 h in all), not the queue's: a schedule rule invokes `deliver` every minute
 * to send what has come due in every dataset.
 *
 *   run functions ──SendMessage──► DeliveryQueue ──(batch of 10, partial failures)──► deliver ──► receivers
 *                                      │ after MAX_RECEIVES receives                  ▲
 *                                      ▼                                               │ every minute
 *                                  DeliveryDeadLetters (alarmed)           EventBridge rule (sweep)
 *
 * A wake-up that keeps failing (the function cannot reach the table, say) ends in the dead-letter queue,
 * whose alarm fires at one message; its deliveries stay pending in the outbox, and the sweep sends them
 * once the cause is gone.
 *
 * Egress: the function is not in a VPC and reaches receivers over the public internet. What it may connect
 * to is decided in the function, by the SSRF guard (shared/destinations/ssrf.ts), which refuses private,
 * loopback, link-local (the instance metadata address among them) and other non-public addresses on every
 * delivery and connects to the address it checked.
 */
import { Duration } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import { Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { FUNCTION_TIMEOUT_SECONDS, PREFIXES } from "../../shared/resources";
import { type FunctionDefaults, ServiceFunction } from "./service-function";

export interface DeliveryProps {
  readonly table: ITable;
  readonly bucket: IBucket;
  readonly functionDefaults: FunctionDefaults;
  /** Name prefix of the webhook secrets in Secrets Manager (ends in "/"). */
  readonly secretPrefix: string;
  /** Concurrency reserved for `deliver`; the queue trigger uses all of it but one, left to the sweep. */
  readonly reservedConcurrency: number;
}

/** Wake-ups handed to one invocation; each is one destination, whose deliveries go out one by one. */
export const DELIVERY_BATCH_SIZE = 10;
/** Receives of one wake-up before it goes to the dead-letter queue. */
export const MAX_RECEIVES = 5;
/**
 * How long a received wake-up stays invisible: six times the function's timeout, as Lambda advises for
 * queue triggers, so a message is never handed out again while an invocation may still be working on it.
 */
export const VISIBILITY_TIMEOUT = Duration.seconds(6 * FUNCTION_TIMEOUT_SECONDS.deliver);
/** How often the schedule sweeps due deliveries; the shortest step of the retry schedule is 5 s. */
export const SWEEP_RATE = Duration.minutes(1);

export class Delivery extends Construct {
  /** Wake-ups from runs and the API: `{tenantId, datasetId, destinationId}`. */
  readonly queue: Queue;
  /** Wake-ups that failed MAX_RECEIVES times. */
  readonly deadLetters: Queue;
  readonly deliver: ServiceFunction;
  /** Sweep events that failed every attempt of `deliver`. */
  readonly sweepFailures: Queue;
  /** Sweep events EventBridge could not deliver to `deliver`. */
  readonly sweepDeadLetters: Queue;
  readonly sweepSchedule: Rule;

  constructor(scope: Construct, id: string, props: DeliveryProps) {
    super(scope, id);

    this.deadLetters = this.deadLetterQueue("DeliveryDeadLetters");
    this.queue = new Queue(this, "DeliveryQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: VISIBILITY_TIMEOUT,
      // A wake-up older than a day has been overtaken by the sweep many times over.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: MAX_RECEIVES },
    });

    this.sweepFailures = this.deadLetterQueue("SweepFailures");
    this.deliver = new ServiceFunction(this, "Deliver", {
      ...props.functionDefaults,
      entryName: "deliver",
      description:
        "Sends destinations' pending webhook deliveries, in order, on a wake-up or the minute's sweep",
      memorySize: 512,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.deliver),
      reservedConcurrentExecutions: props.reservedConcurrency,
      onFailure: new SqsDestination(this.sweepFailures),
      retryAttempts: 2,
      // A sweep later than the next few is of no use.
      maxEventAge: Duration.minutes(5),
    })
      // Destinations, their lease and outbox, the attempt log, and the registry of destinations with
      // deliveries waiting (read by the sweep, entries removed once a destination has none).
      .bindTable(props.table, ["GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"])
      // The bodies the runs stored; the function reads them and never writes the bucket.
      .bindBucket(props.bucket, [{ prefix: PREFIXES.deliveries, actions: ["GetObject"] }])
      .bindSecrets(props.secretPrefix, ["GetSecretValue"])
      // A pass that runs short of time wakes the function again for the rest.
      .bindQueueSender(this.queue, "DELIVERY_QUEUE_URL");

    this.deliver.fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: DELIVERY_BATCH_SIZE,
        reportBatchItemFailures: true,
        // Below the reserved concurrency: a trigger throttled by it would return messages to the queue
        // and spend their receives, sending wake-ups to the dead-letter queue for no fault of theirs.
        maxConcurrency: Math.max(2, props.reservedConcurrency - 1),
      }),
    );
    NagSuppressions.addResourceSuppressions(this.deliver.fn, [
      {
        id: "Serverless-LambdaDLQ",
        reason:
          "Wake-ups that keep failing go to the delivery queue's own dead-letter queue (its redrive policy), " +
          "and failed sweep events to an SQS on-failure destination (EventInvokeConfig); a function " +
          "dead-letter queue would only hold a poorer copy of the sweep events.",
      },
    ]);
    NagSuppressions.addResourceSuppressions(
      this.deliver.fn,
      [
        {
          id: "Serverless-LambdaEventSourceMappingDestination",
          reason:
            "Lambda supports on-failure destinations for stream and Kafka event sources only; for an SQS " +
            "source the queue's redrive policy is that destination, and it sends to DeliveryDeadLetters.",
        },
      ],
      true,
    );

    this.sweepDeadLetters = this.deadLetterQueue("SweepDeadLetters");
    this.sweepSchedule = new Rule(this, "SweepSchedule", {
      description: "Sends webhook deliveries whose retry has come due, in every dataset",
      schedule: Schedule.rate(SWEEP_RATE),
      targets: [
        new LambdaFunction(this.deliver.fn, {
          deadLetterQueue: this.sweepDeadLetters,
          maxEventAge: Duration.minutes(2),
          retryAttempts: 2,
        }),
      ],
    });
  }

  /** An SQS queue for dead letters: SSE-SQS encrypted, TLS only, kept the longest SQS allows. */
  private deadLetterQueue(id: string): Queue {
    const queue = new Queue(this, id, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const reason =
      "This queue is itself the end of a dead-letter chain: nothing consumes it automatically (an alarm " +
      "fires on its depth and an operator inspects and redrives), so there is no consumer whose failures " +
      "would need another queue.";
    NagSuppressions.addResourceSuppressions(queue, [
      { id: "AwsSolutions-SQS3", reason },
      { id: "Serverless-SQSRedrivePolicy", reason },
    ]);
    return queue;
  }
}
