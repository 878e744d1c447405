/**
 * The computation pipeline: `compute` runs when a file lands under the upload prefix (S3 notification),
 * `refresh` runs on a schedule to age time-dependent scores. Both are invoked asynchronously, so each has
 * bounded retries, a dead-letter queue for what still fails, reserved concurrency and an explicit timeout
 * and memory size.
 *
 * `sweeper` runs every few minutes: it closes runs whose process died (their lease on the dataset lapsed)
 * and puts a redelivery request for their work on the bus, which rules send back to `compute` (an upload) or
 * `refresh` (a refresh or an erasure). It only reads and conditionally rewrites run records and puts events.
 *
 * The schedule is an EventBridge rule rather than an EventBridge Scheduler schedule: the refresh handler
 * takes EventBridge's "Scheduled Event" (its `id` names the refresh run, its `time` is the as-of instant),
 * which a rule delivers as is, and a rule target needs no extra IAM role. REFRESH_SCHEDULE is UTC, so
 * Scheduler's time zones are not needed either.
 */
import { Duration, Stack } from "aws-cdk-lib";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import { type IEventBus, Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import { EventType, type IBucket } from "aws-cdk-lib/aws-s3";
import { LambdaDestination } from "aws-cdk-lib/aws-s3-notifications";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { DETAIL_TYPES, EVENT_SOURCE } from "../../shared/events";
import {
  FUNCTION_TIMEOUT_SECONDS,
  PREFIXES,
  REFRESH_SCHEDULE,
  SWEEP_EVERY_MINUTES,
} from "../../shared/resources";
import { type FunctionDefaults, ServiceFunction } from "./service-function";

export interface PipelineProps {
  readonly table: ITable;
  readonly bucket: IBucket;
  /** The service's bus: runs put their change events on it; recompute requests on it start `refresh`. */
  readonly bus: IEventBus;
  readonly functionDefaults: FunctionDefaults;
  readonly computeReservedConcurrency: number;
  readonly refreshReservedConcurrency: number;
}

/** Lambda's own retries of a failed asynchronous invoke, before the event goes to the on-failure queue. */
const ASYNC_RETRY_ATTEMPTS = 2;
/** Longest an event may wait (throttled or between retries) before it is dead-lettered. */
const MAX_EVENT_AGE = Duration.hours(6);

export class Pipeline extends Construct {
  readonly compute: ServiceFunction;
  readonly refresh: ServiceFunction;
  /** Upload events that failed every attempt of `compute`. */
  readonly computeFailures: Queue;
  /** Schedule events that failed every attempt of `refresh`. */
  readonly refreshFailures: Queue;
  /** Schedule events EventBridge could not deliver to `refresh` at all. */
  readonly scheduleDeadLetters: Queue;
  readonly schedule: Rule;
  /** Recompute requests (settings or rule segments changed) that EventBridge could not deliver. */
  readonly recomputeDeadLetters: Queue;
  /** Sends recompute requests on the bus to `refresh`. */
  readonly recompute: Rule;
  /** Erasure requests that EventBridge could not deliver (they hold the customer id; see the README). */
  readonly erasureDeadLetters: Queue;
  /** Sends erasure requests on the bus to `refresh`. */
  readonly erasure: Rule;
  /** Closes runs whose process died and asks for their work to be started again. */
  readonly sweeper: ServiceFunction;
  /** Sweep events that failed every attempt of `sweeper`. */
  readonly sweeperFailures: Queue;
  /** Sweep schedule events EventBridge could not deliver to `sweeper`. */
  readonly sweepDeadLetters: Queue;
  readonly sweepSchedule: Rule;
  /** Redelivery requests of abandoned runs that EventBridge could not deliver. */
  readonly redeliveryDeadLetters: Queue;
  /** Sends an abandoned upload's redelivery to `compute`. */
  readonly uploadRedelivery: Rule;
  /** Sends an abandoned refresh's or erasure's redelivery to `refresh`. */
  readonly refreshRedelivery: Rule;

  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);

    this.computeFailures = this.deadLetterQueue("ComputeFailures");
    this.refreshFailures = this.deadLetterQueue("RefreshFailures");
    this.scheduleDeadLetters = this.deadLetterQueue("ScheduleDeadLetters");

    this.compute = new ServiceFunction(this, "Compute", {
      ...props.functionDefaults,
      entryName: "compute",
      description: "Ingests an uploaded file and recomputes its dataset's segments",
      memorySize: 3008,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.compute),
      reservedConcurrentExecutions: props.computeReservedConcurrency,
      onFailure: new SqsDestination(this.computeFailures),
      retryAttempts: ASYNC_RETRY_ATTEMPTS,
      maxEventAge: MAX_EVENT_AGE,
    })
      .bindTable(props.table, ["GetItem", "PutItem", "UpdateItem", "Query", "BatchWriteItem"])
      .bindBucket(props.bucket, [
        // A file naming customers erased earlier is rewritten in place without their rows; the rewrite's own
        // event is recognised by its ETag and skipped, so it cannot start a run (shared/pipeline/run.ts).
        { prefix: PREFIXES.uploads, actions: ["GetObject", "PutObject", "AbortMultipartUpload"] },
        { prefix: PREFIXES.state, actions: ["GetObject", "PutObject"] },
        { prefix: PREFIXES.reports, actions: ["PutObject"] },
        // Runs read the ids of list segments.
        { prefix: PREFIXES.lists, actions: ["GetObject"] },
      ])
      .bindEventBus(props.bus);

    // Only uploads/ triggers; every prefix the pipeline writes to lies outside it, so no write re-triggers.
    props.bucket.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(this.compute.fn), {
      prefix: PREFIXES.uploads,
    });
    // The notification is configured by a handler CDK adds once per stack; its role is CDK's, not ours.
    for (const handler of Stack.of(this).node.children) {
      if (!handler.node.id.startsWith("BucketNotificationsHandler")) continue;
      NagSuppressions.addResourceSuppressions(
        handler,
        [
          {
            id: "AwsSolutions-IAM4",
            reason:
              "CDK's own custom-resource handler that writes the bucket's notification configuration at deploy " +
              "time; its role is built by aws-cdk-lib with the basic execution policy for its logs.",
            appliesTo: [
              "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            ],
          },
        ],
        true,
      );
    }

    this.refresh = new ServiceFunction(this, "Refresh", {
      ...props.functionDefaults,
      entryName: "refresh",
      description: "Refreshes every dataset's time-dependent scores from its stored state",
      memorySize: 3008,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.refresh),
      reservedConcurrentExecutions: props.refreshReservedConcurrency,
      onFailure: new SqsDestination(this.refreshFailures),
      retryAttempts: ASYNC_RETRY_ATTEMPTS,
      maxEventAge: MAX_EVENT_AGE,
    })
      // Erasures (shared/pipeline/erase.ts) delete the customer's items, rewrite uploaded files in place
      // (skipped by compute through their ETag), and list and delete earlier versions' state and the exports.
      .bindTable(props.table, ["GetItem", "PutItem", "UpdateItem", "Query", "BatchWriteItem", "DeleteItem"])
      .bindBucket(props.bucket, [
        {
          prefix: PREFIXES.uploads,
          actions: ["GetObject", "PutObject", "DeleteObject", "AbortMultipartUpload"],
        },
        { prefix: PREFIXES.state, actions: ["GetObject", "PutObject", "DeleteObject"] },
        { prefix: PREFIXES.exports, actions: ["DeleteObject"] },
        // Refreshes read list segments; erasures write each list without the customer and delete the old ids.
        { prefix: PREFIXES.lists, actions: ["GetObject", "PutObject", "DeleteObject"] },
      ])
      .bindBucketListing(props.bucket, [PREFIXES.state, PREFIXES.exports])
      .bindEventBus(props.bus);

    this.sweeperFailures = this.deadLetterQueue("SweeperFailures");
    this.sweeper = new ServiceFunction(this, "Sweeper", {
      ...props.functionDefaults,
      entryName: "sweeper",
      description: "Closes runs whose process died and starts their work again; serves unserved destinations",
      // Serving a run's destinations again reads two versions' per-customer outputs, as refresh does.
      memorySize: 3008,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.sweeper),
      // One sweep at a time: two would find the same dead runs (closing is conditional, so only wasteful).
      reservedConcurrentExecutions: 1,
      onFailure: new SqsDestination(this.sweeperFailures),
      retryAttempts: ASYNC_RETRY_ATTEMPTS,
      maxEventAge: Duration.minutes(SWEEP_EVERY_MINUTES * 2),
    })
      // Reads datasets and runs; closes a run with a conditional PutItem; marks a run's destinations served
      // (UpdateItem) and appends to their outboxes (BatchWriteItem, UpdateItem). No deletes.
      .bindTable(props.table, ["GetItem", "Query", "PutItem", "UpdateItem", "BatchWriteItem"])
      // Serving a run's destinations again reads the versions' outputs and contacts and writes the held
      // destination files' record, all under state/ (webhook bodies are granted by the stack).
      .bindBucket(props.bucket, [{ prefix: PREFIXES.state, actions: ["GetObject", "PutObject"] }])
      .bindEventBus(props.bus);

    for (const fn of [this.compute, this.refresh, this.sweeper]) {
      NagSuppressions.addResourceSuppressions(fn.fn, [
        {
          id: "Serverless-LambdaDLQ",
          reason:
            "Failed asynchronous invocations go to an SQS on-failure destination (EventInvokeConfig), which " +
            "records the request together with the error; a dead-letter queue as well would hold a second, " +
            "poorer copy of the same events.",
        },
      ]);
    }

    this.schedule = new Rule(this, "RefreshSchedule", {
      description: "Daily refresh of time-dependent scores (UTC)",
      schedule: Schedule.cron({ minute: REFRESH_SCHEDULE.minute, hour: REFRESH_SCHEDULE.hour }),
      targets: [
        new LambdaFunction(this.refresh.fn, {
          deadLetterQueue: this.scheduleDeadLetters,
          maxEventAge: Duration.hours(2),
          retryAttempts: 4,
        }),
      ],
    });
    // A recompute request on the bus runs the refresh for its one dataset, with the schedule's delivery
    // guarantees.
    this.recomputeDeadLetters = this.deadLetterQueue("RecomputeDeadLetters");
    this.recompute = new Rule(this, "RecomputeRequests", {
      description: "Recomputes a dataset when its settings or rule segments change",
      eventBus: props.bus,
      eventPattern: { source: [EVENT_SOURCE], detailType: [DETAIL_TYPES.recomputeRequested] },
      targets: [
        new LambdaFunction(this.refresh.fn, {
          deadLetterQueue: this.recomputeDeadLetters,
          maxEventAge: Duration.hours(2),
          retryAttempts: 4,
        }),
      ],
    });
    // An erasure request runs the erasure in the refresh function, with the same delivery guarantees.
    this.erasureDeadLetters = this.deadLetterQueue("ErasureDeadLetters");
    this.erasure = new Rule(this, "ErasureRequests", {
      description: "Erases a customer from a dataset on request",
      eventBus: props.bus,
      eventPattern: { source: [EVENT_SOURCE], detailType: [DETAIL_TYPES.erasureRequested] },
      targets: [
        new LambdaFunction(this.refresh.fn, {
          deadLetterQueue: this.erasureDeadLetters,
          maxEventAge: Duration.hours(2),
          retryAttempts: 4,
        }),
      ],
    });

    this.sweepDeadLetters = this.deadLetterQueue("SweepDeadLetters");
    this.sweepSchedule = new Rule(this, "SweepSchedule", {
      description: "Closes runs whose process died and starts their work again",
      schedule: Schedule.rate(Duration.minutes(SWEEP_EVERY_MINUTES)),
      targets: [
        new LambdaFunction(this.sweeper.fn, {
          deadLetterQueue: this.sweepDeadLetters,
          // A sweep later than the next one is of no use.
          maxEventAge: Duration.minutes(SWEEP_EVERY_MINUTES * 2),
          retryAttempts: 2,
        }),
      ],
    });
    this.redeliveryDeadLetters = this.deadLetterQueue("RedeliveryDeadLetters");
    this.uploadRedelivery = this.redeliveryRule(
      "UploadRedelivery",
      props.bus,
      ["upload"],
      this.compute,
      "Starts an abandoned upload run's work again",
    );
    this.refreshRedelivery = this.redeliveryRule(
      "RefreshRedelivery",
      props.bus,
      ["refresh", "erasure"],
      this.refresh,
      "Starts an abandoned refresh or erasure run's work again",
    );
  }

  /** A rule on the service's bus that sends redeliveries of abandoned runs of `kinds` to `fn`. */
  private redeliveryRule(
    id: string,
    bus: IEventBus,
    kinds: string[],
    fn: ServiceFunction,
    description: string,
  ) {
    return new Rule(this, id, {
      description,
      eventBus: bus,
      eventPattern: {
        source: [EVENT_SOURCE],
        detailType: [DETAIL_TYPES.runRedelivery],
        detail: { redelivery: { kind: kinds } },
      },
      targets: [
        new LambdaFunction(fn.fn, {
          deadLetterQueue: this.redeliveryDeadLetters,
          maxEventAge: Duration.hours(2),
          retryAttempts: 4,
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
