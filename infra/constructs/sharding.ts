/**
 * Runs of uploads too large for one compute function: a Step Functions state machine fans the work out with
 * distributed maps. The steps are in shared/pipeline/sharded.ts, the computation in shared/engine/shard:
 *
 *   Plan ─► Partition (map over byte ranges of the upload) ─► Aggregate (map over customer-hash buckets)
 *        ─► Merge (scores and segments the merged columns, writes the changed customers in slices)
 *        ─► Write (map over the slices: parallel batched writes to the table) ─► Commit
 *
 * A step that still fails after its retries goes to RecordFailure, which records the run as failed and
 * releases the dataset; the execution then fails, and an alarm on failed executions fires. Steps are
 * idempotent: each writes objects under the run's own work/ prefix, or items of the run's own version, so a
 * retried step or a redriven execution redoes its part without harm. The work/ prefix expires by a
 * lifecycle rule of the bucket.
 *
 * Two functions run the steps from one entry: workers (partition, aggregate, write: many at once, modest
 * memory) and a coordinator (plan, merge, commit, fail: one per run, the most memory Lambda has, as the
 * merge holds every customer's columns).
 */
import { type CfnElement, Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import {
  Choice,
  Condition,
  DefinitionBody,
  DistributedMap,
  Fail,
  JitterType,
  JsonPath,
  LogLevel,
  type RetryProps,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
} from "aws-cdk-lib/aws-stepfunctions";
import { LambdaInvoke } from "aws-cdk-lib/aws-stepfunctions-tasks";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import type { ShardAction } from "../../shared/pipeline/sharded-contract";
import { FUNCTION_TIMEOUT_SECONDS, PREFIXES } from "../../shared/resources";
import { type FunctionDefaults, ServiceFunction } from "./service-function";

export interface ShardingProps {
  readonly table: ITable;
  readonly bucket: IBucket;
  readonly bus: IEventBus;
  readonly functionDefaults: FunctionDefaults;
  /** Most steps of one map running at once; also the workers' reserved concurrency. */
  readonly maxConcurrency: number;
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
}

/** The longest a sharded run may take; past it the execution times out (and the lease expires). */
export const SHARDED_RUN_TIMEOUT = Duration.hours(2);

/**
 * Retries of a step: Lambda's transient errors (throttling included) and the steps' own retryable errors
 * (shared/errors RetryableError: DynamoDB or S3 throttling that outlasted the SDK's retries). Backoff 2, 4,
 * 8, 16 s with full jitter, so retries of a whole map's steps do not arrive together.
 */
export const STEP_RETRY: RetryProps = {
  errors: [
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "RetryableError",
  ],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 4,
  maxDelay: Duration.seconds(30),
  jitterStrategy: JitterType.FULL,
};

/** A map fails as soon as one of its steps has failed for good: partial results are never merged. */
const TOLERATED_FAILURE_PERCENTAGE = 0;

export class Sharding extends Construct {
  readonly workers: ServiceFunction;
  readonly coordinator: ServiceFunction;
  readonly stateMachine: StateMachine;
  readonly logGroup: LogGroup;
  readonly failedRuns: Alarm;

  constructor(scope: Construct, id: string, props: ShardingProps) {
    super(scope, id);

    this.workers = new ServiceFunction(this, "Workers", {
      ...props.functionDefaults,
      entryName: "shard",
      description: "Steps of sharded runs: partitions a byte range, aggregates a bucket, writes a slice",
      memorySize: 3008,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.shard),
      reservedConcurrentExecutions: props.maxConcurrency,
    })
      .bindTable(props.table, ["BatchWriteItem"])
      .bindBucket(props.bucket, [
        { prefix: PREFIXES.uploads, actions: ["GetObject"] },
        { prefix: PREFIXES.work, actions: ["GetObject", "PutObject"] },
      ]);

    this.coordinator = new ServiceFunction(this, "Coordinator", {
      ...props.functionDefaults,
      entryName: "shard",
      description: "Steps of sharded runs: plans, merges and commits a run, or records its failure",
      memorySize: 10240,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.shard),
    })
      .bindTable(props.table, ["GetItem", "PutItem", "UpdateItem", "Query", "BatchWriteItem"])
      .bindBucket(props.bucket, [
        { prefix: PREFIXES.uploads, actions: ["GetObject"] },
        { prefix: PREFIXES.work, actions: ["GetObject", "PutObject"] },
        { prefix: PREFIXES.state, actions: ["GetObject", "PutObject"] },
        { prefix: PREFIXES.reports, actions: ["PutObject"] },
        // The merge reads the ids of list segments.
        { prefix: PREFIXES.lists, actions: ["GetObject"] },
      ])
      .bindEventBus(props.bus);
    for (const fn of [this.workers, this.coordinator]) {
      NagSuppressions.addResourceSuppressions(fn.fn, [
        {
          id: "Serverless-LambdaDLQ",
          reason:
            "Invoked synchronously by Step Functions, which retries each step and sends a run that still " +
            "fails to its RecordFailure step; no asynchronous invoke exists whose events a queue could catch.",
        },
      ]);
    }

    const run = JsonPath.objectAt("$.plan.run");
    const invoke = (
      name: string,
      fn: ServiceFunction,
      action: ShardAction,
      fields: Record<string, unknown>,
      resultPath: string,
    ) => {
      const task = new LambdaInvoke(this, name, {
        lambdaFunction: fn.fn,
        payload: TaskInput.fromObject({ action, ...fields }),
        payloadResponseOnly: true,
        resultPath,
        // STEP_RETRY covers Lambda's service errors with jittered backoff instead of the default retrier.
        retryOnServiceExceptions: false,
      });
      task.addRetry(STEP_RETRY);
      return task;
    };
    const map = (name: string, itemsPath: string, action: ShardAction, item: string, fn: ServiceFunction) => {
      const stepMap = new DistributedMap(this, name, {
        itemsPath,
        itemSelector: { action, run, [item]: JsonPath.objectAt("$$.Map.Item.Value") },
        maxConcurrency: props.maxConcurrency,
        mapExecutionType: StateMachineType.STANDARD,
        toleratedFailurePercentage: TOLERATED_FAILURE_PERCENTAGE,
        resultPath: JsonPath.DISCARD,
      });
      const task = new LambdaInvoke(this, `${name}Step`, {
        lambdaFunction: fn.fn,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
      });
      task.addRetry(STEP_RETRY);
      stepMap.itemProcessor(task);
      return stepMap;
    };

    const plan = invoke(
      "Plan",
      this.coordinator,
      "plan",
      { upload: JsonPath.objectAt("$.upload") },
      "$.plan",
    );
    const partition = map("Partition", "$.plan.ranges", "partition", "range", this.workers);
    const aggregate = map("Aggregate", "$.plan.buckets", "aggregate", "bucket", this.workers);
    const merge = invoke("Merge", this.coordinator, "merge", { run }, "$.merge");
    const write = map("Write", "$.merge.slices", "write", "slice", this.workers);
    const commit = invoke("Commit", this.coordinator, "commit", { run }, JsonPath.DISCARD);

    // The whole state goes to RecordFailure: when Plan itself failed there is no $.plan to pass.
    const recordFailure = invoke(
      "RecordFailure",
      this.coordinator,
      "fail",
      { input: JsonPath.entirePayload },
      JsonPath.DISCARD,
    );
    recordFailure.next(
      new Fail(this, "RunFailed", { errorPath: "$.error.Error", causePath: "$.error.Cause" }),
    );
    for (const state of [plan, partition, aggregate, merge, write, commit]) {
      state.addCatch(recordFailure, { errors: ["States.ALL"], resultPath: "$.error" });
    }

    const definition = plan.next(
      new Choice(this, "Proceed")
        // A duplicate event, a stale upload or a file rejected whole ends the run at the plan.
        .when(Condition.booleanEquals("$.plan.proceed", false), new Succeed(this, "NothingToDo"))
        .otherwise(
          partition.next(aggregate).next(merge).next(write).next(commit).next(new Succeed(this, "Committed")),
        ),
    );

    this.logGroup = new LogGroup(this, "Logs", {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.stateMachine = new StateMachine(this, "StateMachine", {
      comment: "Sharded runs of large uploads",
      definitionBody: DefinitionBody.fromChainable(definition),
      stateMachineType: StateMachineType.STANDARD,
      timeout: SHARDED_RUN_TIMEOUT,
      tracingEnabled: true,
      // Execution data would log step inputs and outputs; they hold no customer data, but errors may quote
      // a row, so only events are logged.
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
    });

    // Invoking a function may name any of its versions; X-Ray and log delivery take no resource; a map's
    // child executions are named by Step Functions under this state machine's own execution ARNs.
    const stack = Stack.of(this);
    const machineId = stack.getLogicalId(this.stateMachine.node.defaultChild as CfnElement);
    const executions = `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${machineId}"}]}]}`;
    NagSuppressions.addResourceSuppressions(
      this.stateMachine,
      [
        {
          id: "AwsSolutions-IAM5",
          reason:
            "lambda:InvokeFunction on <function>:* lets the state machine call the functions' versions; " +
            "X-Ray and CloudWatch Logs delivery actions support no resource-level permissions; a distributed " +
            "map starts and stops child executions whose names Step Functions chooses, under this state machine.",
          appliesTo: [
            "Resource::*",
            `Resource::<${this.workers.logicalId}.Arn>:*`,
            `Resource::<${this.coordinator.logicalId}.Arn>:*`,
            `Resource::${executions}:*`,
            `Resource::${executions}/*:*`,
          ],
        },
      ],
      true,
    );

    this.failedRuns = new Alarm(this, "FailedRuns", {
      alarmDescription: "A sharded run failed or timed out; its run record names the error",
      metric: this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: "Sum" }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
