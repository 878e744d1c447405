/**
 * The webhook delivery path in the synthesized stack: the wake-up queue and its dead letters, the alarm,
 * the queue trigger and the minute's sweep of the deliver function, its environment, and every IAM statement
 * the path adds (secrets under the stack's own prefix, the queue, the outbox bodies, destination buckets).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAppConfig } from "../../infra/config";
import { MAX_RECEIVES, VISIBILITY_TIMEOUT } from "../../infra/constructs/delivery";
import type { ServiceFunction } from "../../infra/constructs/service-function";
import { FUNCTION_TIMEOUT_SECONDS, PREFIXES } from "../../shared/resources";
import {
  functionProps,
  getAtt,
  logicalId,
  objectArn,
  permissions,
  ref,
  removeOutdirs,
  resourcesOfType,
  rolePermissions,
  type Synthesized,
  synth,
} from "./synth";

let sx: Synthesized;
/** The stack with two destination buckets named in its context. */
let withBuckets: Synthesized;
beforeAll(() => {
  sx = synth({}, { bundling: false });
  withBuckets = synth({ destinationBuckets: "crm-exports,ads.audiences-1" }, { bundling: false });
});
afterAll(removeOutdirs);

// biome-ignore lint/suspicious/noExplicitAny: template JSON is read field by field and checked by the assertions.
const resource = (s: Synthesized, id: string): Record<string, any> => s.template.toJSON().Resources[id];
const queueId = (s: Synthesized) => logicalId(s, s.stack.delivery.queue);
const dlqId = (s: Synthesized) => logicalId(s, s.stack.delivery.deadLetters);

/** `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>` as the template writes it. */
const secretArn = (name: string) => ({
  "Fn::Join": [
    "",
    [
      "arn:",
      { Ref: "AWS::Partition" },
      ":secretsmanager:",
      { Ref: "AWS::Region" },
      ":",
      { Ref: "AWS::AccountId" },
      `:secret:${name}`,
    ],
  ],
});
const WEBHOOK_SECRETS = secretArn("segmentation-dev/webhooks/*");
const externalObjects = (bucket: string) => ({
  "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, `:s3:::${bucket}/*`]],
});

const XRAY: [string, string[]] = ["*", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]];
const ownLogs = (fn: ServiceFunction): [unknown, string[]] => [
  getAtt(logicalId(sx, fn.logGroup)),
  ["logs:CreateLogStream", "logs:PutLogEvents"],
];
/** What SqsDestination grants a function to send its failed events to its queue. */
const SQS_SEND = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"];

/** Whether the queue has a policy denying every request that is not over TLS. */
function tlsOnly(s: Synthesized, id: string): boolean {
  return Object.values(resourcesOfType(s.template, "AWS::SQS::QueuePolicy")).some((p) => {
    const props = p.Properties as { Queues: unknown[]; PolicyDocument: { Statement: unknown[] } };
    return (
      JSON.stringify(props.Queues) === JSON.stringify([ref(id)]) &&
      props.PolicyDocument.Statement.some(
        (st) =>
          JSON.stringify(st) ===
          JSON.stringify({
            Action: "sqs:*",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
            Effect: "Deny",
            Principal: { AWS: "*" },
            Resource: getAtt(id),
          }),
      )
    );
  });
}

describe("wake-up queue", () => {
  it("is encrypted (SSE-SQS), TLS only, and hands a message out again only after six function timeouts", () => {
    const props = resource(sx, queueId(sx)).Properties;
    expect(props.SqsManagedSseEnabled).toBe(true);
    expect(tlsOnly(sx, queueId(sx))).toBe(true);
    expect(VISIBILITY_TIMEOUT.toSeconds()).toBe(6 * FUNCTION_TIMEOUT_SECONDS.deliver);
    expect(props.VisibilityTimeout).toBe(720);
    expect(FUNCTION_TIMEOUT_SECONDS.deliver).toBe(120);
  });

  it("sends a message received five times to its own dead-letter queue", () => {
    expect(MAX_RECEIVES).toBe(5);
    expect(resource(sx, queueId(sx)).Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: getAtt(dlqId(sx)),
      maxReceiveCount: 5,
    });
  });

  it("has a dead-letter queue that is encrypted, TLS only, kept 14 days and consumed by nobody", () => {
    const props = resource(sx, dlqId(sx)).Properties;
    expect(props.SqsManagedSseEnabled).toBe(true);
    expect(props.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(tlsOnly(sx, dlqId(sx))).toBe(true);
    const consumers = Object.values(resourcesOfType(sx.template, "AWS::Lambda::EventSourceMapping")).filter(
      (m) => JSON.stringify(m.Properties?.EventSourceArn) === JSON.stringify(getAtt(dlqId(sx))),
    );
    expect(consumers).toEqual([]);
  });

  it("raises an alarm as soon as one message waits in the dead-letter queue", () => {
    const alarms = Object.values(resourcesOfType(sx.template, "AWS::CloudWatch::Alarm"))
      .map((a) => a.Properties as Record<string, unknown>)
      .filter(
        (p) =>
          p.Namespace === "AWS/SQS" &&
          JSON.stringify(p.Dimensions) ===
            JSON.stringify([{ Name: "QueueName", Value: getAtt(dlqId(sx), "QueueName") }]),
      );
    expect(alarms).toEqual([
      expect.objectContaining({
        MetricName: "ApproximateNumberOfMessagesVisible",
        Statistic: "Maximum",
        // More than 0 of a whole number of messages: at least one.
        ComparisonOperator: "GreaterThanThreshold",
        Threshold: 0,
        EvaluationPeriods: 1,
        TreatMissingData: "notBreaching",
      }),
    ]);
  });
});

describe("deliver function", () => {
  it("is fed by the queue in batches of 10, reporting failed items alone, below its reserved concurrency", () => {
    const deliverId = sx.stack.delivery.deliver.logicalId;
    const mappings = Object.values(resourcesOfType(sx.template, "AWS::Lambda::EventSourceMapping"))
      .map((m) => m.Properties)
      .filter((p) => JSON.stringify(p?.FunctionName) === JSON.stringify(ref(deliverId)));
    expect(mappings).toEqual([
      {
        EventSourceArn: getAtt(queueId(sx)),
        FunctionName: ref(deliverId),
        BatchSize: 10,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        // One below the reserved 5: the trigger is never throttled, and the sweep always has room.
        ScalingConfig: { MaximumConcurrency: 4 },
        Tags: expect.any(Array),
      },
    ]);
    expect(functionProps(sx, sx.stack.delivery.deliver).ReservedConcurrentExecutions).toBe(5);
  });

  it("follows deliveryReservedConcurrency, keeping the trigger one below it", () => {
    const other = synth({ deliveryReservedConcurrency: "12" }, { bundling: false });
    const deliver = other.stack.delivery.deliver;
    expect(functionProps(other, deliver).ReservedConcurrentExecutions).toBe(12);
    const mapping = Object.values(resourcesOfType(other.template, "AWS::Lambda::EventSourceMapping")).find(
      (m) => JSON.stringify(m.Properties?.FunctionName) === JSON.stringify(ref(deliver.logicalId)),
    );
    expect(mapping?.Properties?.ScalingConfig).toEqual({ MaximumConcurrency: 11 });
    expect(() => parseAppConfig((k) => (k === "deliveryReservedConcurrency" ? "2" : undefined))).toThrow(
      /deliveryReservedConcurrency/,
    );
  });

  it("sweeps due deliveries every minute, with a dead-letter queue and a retry policy", () => {
    const rule = resource(sx, logicalId(sx, sx.stack.delivery.sweepSchedule)).Properties;
    expect(rule.ScheduleExpression).toBe("rate(1 minute)");
    expect(rule.State).toBe("ENABLED");
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: getAtt(sx.stack.delivery.deliver.logicalId),
        DeadLetterConfig: { Arn: getAtt(logicalId(sx, sx.stack.delivery.sweepDeadLetters)) },
        RetryPolicy: { MaximumEventAgeInSeconds: 120, MaximumRetryAttempts: 2 },
      }),
    ]);
  });

  it("sends sweep events that failed every attempt to its own queue", () => {
    const deliverId = sx.stack.delivery.deliver.logicalId;
    const config = Object.values(resourcesOfType(sx.template, "AWS::Lambda::EventInvokeConfig")).find(
      (c) => JSON.stringify(c.Properties?.FunctionName) === JSON.stringify(ref(deliverId)),
    );
    expect(config?.Properties).toEqual(
      expect.objectContaining({
        DestinationConfig: {
          OnFailure: { Destination: getAtt(logicalId(sx, sx.stack.delivery.sweepFailures)) },
        },
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 300,
      }),
    );
  });

  it("runs outside any VPC, with its timeout, the table, the bucket and the stack's secret prefix", () => {
    const props = functionProps(sx, sx.stack.delivery.deliver);
    // Receivers are on the public internet; which addresses may be reached is the SSRF guard's call.
    expect(props.VpcConfig).toBeUndefined();
    expect(props.Timeout).toBe(120);
    expect(props.Environment.Variables).toEqual({
      TABLE_NAME: ref(logicalId(sx, sx.stack.storage.table)),
      BUCKET_NAME: ref(logicalId(sx, sx.stack.storage.bucket)),
      WEBHOOK_SECRET_PREFIX: "segmentation-dev/webhooks/",
      DELIVERY_QUEUE_URL: ref(queueId(sx)),
      LOG_LEVEL: "INFO",
      SERVICE_NAME: "segmentation",
      NODE_OPTIONS: "--enable-source-maps",
      POWERTOOLS_METRICS_NAMESPACE: "Segmentation/dev",
      POWERTOOLS_SERVICE_NAME: "segmentation",
    });
  });

  it("gives each stage its own secret prefix", () => {
    const prod = synth({ stage: "prod" }, { bundling: false });
    const env = functionProps(prod, prod.stack.delivery.deliver).Environment.Variables;
    expect(env.WEBHOOK_SECRET_PREFIX).toBe("segmentation-prod/webhooks/");
  });

  it("is the only function alarmed on errors and throttles that the delivery path adds", () => {
    const id = sx.stack.delivery.deliver.logicalId;
    const metrics = Object.values(resourcesOfType(sx.template, "AWS::CloudWatch::Alarm"))
      .map((a) => a.Properties as { MetricName?: string; Dimensions?: unknown })
      .filter(
        (p) => JSON.stringify(p.Dimensions) === JSON.stringify([{ Name: "FunctionName", Value: ref(id) }]),
      )
      .map((p) => p.MetricName)
      .sort();
    expect(metrics).toEqual(["Errors", "Throttles"]);
  });
});

describe("IAM of the delivery path", () => {
  it("deliver: the outbox in the table, the bodies under deliveries/ (read only), secrets under the prefix (read only), its queue", () => {
    // Table: GetItem (destination), Query (pending deliveries, the sweep's list), UpdateItem (lease, disable),
    // PutItem (delivery state, attempt log), DeleteItem (a destination off the sweep's list).
    const deliver = sx.stack.delivery.deliver;
    expect(rolePermissions(sx, deliver)).toEqual(
      permissions([
        XRAY,
        ownLogs(deliver),
        [
          getAtt(logicalId(sx, sx.stack.storage.table)),
          [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
          ],
        ],
        [objectArn(logicalId(sx, sx.stack.storage.bucket), PREFIXES.deliveries), ["s3:GetObject"]],
        [WEBHOOK_SECRETS, ["secretsmanager:GetSecretValue"]],
        // What the queue trigger needs to receive, extend and delete messages, and SendMessage to wake
        // itself for what a pass had no time left for.
        [
          getAtt(queueId(sx)),
          [
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ReceiveMessage",
            "sqs:SendMessage",
          ],
        ],
        [getAtt(logicalId(sx, sx.stack.delivery.sweepFailures)), SQS_SEND],
      ]),
    );
  });

  it("writeApi: creates and deletes secrets under the prefix (never reads one), deletes outboxes, sends wake-ups", () => {
    const perms = rolePermissions(sx, sx.stack.api.functions.writeApi);
    const added = [...perms].filter(([, actions]) =>
      actions.some((a) => a.startsWith("secretsmanager:") || a.startsWith("sqs:")),
    );
    // A rotation creates a new secret rather than changing one, and no secret is tagged.
    expect(new Map(added)).toEqual(
      permissions([
        [WEBHOOK_SECRETS, ["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"]],
        [getAtt(queueId(sx)), ["sqs:SendMessage"]],
      ]),
    );
    // Deleting a destination batch-deletes its outbox and attempt log, and deletes its waiting bodies.
    expect(perms.get(JSON.stringify(getAtt(logicalId(sx, sx.stack.storage.table))))).toContain(
      "dynamodb:BatchWriteItem",
    );
    expect(
      perms.get(JSON.stringify(objectArn(logicalId(sx, sx.stack.storage.bucket), PREFIXES.deliveries))),
    ).toEqual(["s3:DeleteObject"]);
    const env = functionProps(sx, sx.stack.api.functions.writeApi).Environment.Variables;
    expect([env.WEBHOOK_SECRET_PREFIX, env.DELIVERY_QUEUE_URL, env.DESTINATION_BUCKETS]).toEqual([
      "segmentation-dev/webhooks/",
      ref(queueId(sx)),
      "",
    ]);
  });

  it("compute, refresh and the shard coordinator: SendMessage on the queue, PutObject under deliveries/ (refresh, erasing, also reads), no secret", () => {
    const bucketId = logicalId(sx, sx.stack.storage.bucket);
    for (const fn of [sx.stack.pipeline.compute, sx.stack.pipeline.refresh, sx.stack.sharding.coordinator]) {
      const perms = rolePermissions(sx, fn);
      expect(perms.get(JSON.stringify(getAtt(queueId(sx)))), fn.node.path).toEqual(["sqs:SendMessage"]);
      expect(perms.get(JSON.stringify(objectArn(bucketId, PREFIXES.deliveries))), fn.node.path).toEqual(
        fn === sx.stack.pipeline.refresh ? ["s3:GetObject", "s3:PutObject"] : ["s3:PutObject"],
      );
      expect(
        [...perms.values()].flat().filter((a) => a.startsWith("secretsmanager:")),
        fn.node.path,
      ).toEqual([]);
      const env = functionProps(sx, fn).Environment.Variables;
      expect([env.DELIVERY_QUEUE_URL, env.DESTINATION_BUCKETS], fn.node.path).toEqual([ref(queueId(sx)), ""]);
    }
  });

  it("sends to the delivery queue from compute, refresh, the shard coordinator, the sweeper, writeApi and deliver only; producers get SendMessage alone", () => {
    const senders: string[] = [];
    for (const [name, fn] of Object.entries(sx.stack.functions)) {
      const actions = rolePermissions(sx, fn).get(JSON.stringify(getAtt(queueId(sx))));
      if (actions?.includes("sqs:SendMessage")) {
        senders.push(name);
        if (name !== "deliver") expect(actions, name).toEqual(["sqs:SendMessage"]);
      }
    }
    expect(senders.sort()).toEqual([
      "compute",
      "deliver",
      "refresh",
      "shardCoordinator",
      "sweeper",
      "writeApi",
    ]);
  });

  it("grants secrets access on the stack's prefix only: no wildcard action or secret, no KMS, nobody but deliver reads", () => {
    const readers: string[] = [];
    const secretResources = new Set<string>();
    for (const policy of Object.values(resourcesOfType(sx.template, "AWS::IAM::Policy"))) {
      const doc = policy.Properties?.PolicyDocument as { Statement: Array<Record<string, unknown>> };
      for (const st of doc.Statement) {
        const actions = ([] as string[]).concat(st.Action as string[]);
        // The account's AWS managed key for Secrets Manager needs no KMS grant; nothing else uses KMS.
        expect(actions.filter((a) => a.startsWith("kms:"))).toEqual([]);
        const secretActions = actions.filter((a) => a.startsWith("secretsmanager:"));
        if (secretActions.length === 0) continue;
        expect(secretActions.filter((a) => a.includes("*"))).toEqual([]);
        for (const r of ([] as unknown[]).concat(st.Resource)) secretResources.add(JSON.stringify(r));
        if (secretActions.includes("secretsmanager:GetSecretValue")) {
          readers.push(...((policy.Properties?.Roles ?? []) as Array<{ Ref: string }>).map((r) => r.Ref));
        }
      }
    }
    expect([...secretResources]).toEqual([JSON.stringify(WEBHOOK_SECRETS)]);
    const deliverRole = functionProps(sx, sx.stack.delivery.deliver).Role["Fn::GetAtt"][0];
    expect(readers).toEqual([deliverRole]);
  });

  it("writes to no bucket outside the stack unless destinationBuckets names it", () => {
    for (const fn of Object.values(sx.stack.functions)) {
      for (const key of rolePermissions(sx, fn).keys()) expect(key, fn.node.path).not.toContain(":s3:::");
    }
  });

  it("lets the run functions and the sweeper put objects (and their ACL) in exactly the named destination buckets", () => {
    const s = withBuckets;
    // The sweeper serves a committed run whose process died before serving its destinations.
    const runFunctions = [
      s.stack.pipeline.compute,
      s.stack.pipeline.refresh,
      s.stack.sharding.coordinator,
      s.stack.pipeline.sweeper,
    ];
    for (const [name, fn] of Object.entries(s.stack.functions)) {
      const external = [...rolePermissions(s, fn)].filter(([key]) => key.includes(":s3:::"));
      const expected = runFunctions.includes(fn)
        ? [
            [JSON.stringify(externalObjects("crm-exports")), ["s3:PutObject", "s3:PutObjectAcl"]],
            [JSON.stringify(externalObjects("ads.audiences-1")), ["s3:PutObject", "s3:PutObjectAcl"]],
          ]
        : [];
      expect(external, name).toEqual(expected);
    }
    for (const fn of [...runFunctions, s.stack.api.functions.writeApi]) {
      expect(functionProps(s, fn).Environment.Variables.DESTINATION_BUCKETS, fn.node.path).toBe(
        "crm-exports,ads.audiences-1",
      );
    }
  });

  it("names the roles that write destination files in an output, for the policies of buckets in other accounts", () => {
    const roles = [
      sx.stack.pipeline.compute,
      sx.stack.pipeline.refresh,
      sx.stack.sharding.coordinator,
      sx.stack.pipeline.sweeper,
    ].map((fn) => getAtt(logicalId(sx, fn.role)));
    expect(sx.template.toJSON().Outputs.DestinationWriterRoles.Value).toEqual({ "Fn::Join": [",", roles] });
  });

  it("refuses a destination bucket that is not an S3 bucket name", () => {
    for (const bad of ["Upper", "a", "arn:aws:s3:::x", "bucket/prefix", "x*"]) {
      expect(() => parseAppConfig((k) => (k === "destinationBuckets" ? bad : undefined)), bad).toThrow(
        /destinationBuckets/,
      );
    }
  });
});

describe("the local service's switches", () => {
  it("are set in no function of the stack: loopback webhooks stay refused, the retry schedule is the documented one", () => {
    for (const [name, fn] of Object.entries(sx.stack.functions)) {
      const env = functionProps(sx, fn).Environment.Variables as Record<string, unknown>;
      expect(
        Object.keys(env).filter((k) => k === "ALLOW_LOOPBACK_WEBHOOKS" || k === "DELIVERY_RETRY_SCHEDULE"),
        name,
      ).toEqual([]);
    }
  });
});
