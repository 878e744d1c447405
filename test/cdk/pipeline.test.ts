/**
 * The pipeline's triggers and failure handling in the synthesized stack: the upload notification and its
 * prefix, the refresh schedule, and where events go when a function keeps failing.
 */
import { Capture, Match } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DETAIL_TYPES, EVENT_SOURCE } from "../../shared/events";
import { PREFIXES, REFRESH_SCHEDULE, SWEEP_EVERY_MINUTES } from "../../shared/resources";
import {
  functionProps,
  getAtt,
  logicalId,
  ref,
  removeOutdirs,
  resourcesOfType,
  rolePermissions,
  type Synthesized,
  synth,
} from "./synth";

let sx: Synthesized;
beforeAll(() => {
  sx = synth();
});
afterAll(removeOutdirs);

describe("upload trigger", () => {
  it("invokes compute on ObjectCreated under uploads/ and on nothing else", () => {
    const notifications = resourcesOfType(sx.template, "Custom::S3BucketNotifications");
    expect(Object.values(notifications).map((n) => n.Properties)).toEqual([
      expect.objectContaining({
        BucketName: ref(logicalId(sx, sx.stack.storage.bucket)),
        NotificationConfiguration: {
          LambdaFunctionConfigurations: [
            {
              Events: ["s3:ObjectCreated:*"],
              Filter: { Key: { FilterRules: [{ Name: "prefix", Value: PREFIXES.uploads }] } },
              LambdaFunctionArn: getAtt(sx.stack.pipeline.compute.logicalId),
            },
          ],
        },
      }),
    ]);
  });

  it("keeps every output prefix disjoint from the trigger prefix", () => {
    const outputs = Object.values(PREFIXES).filter((p) => p !== PREFIXES.uploads);
    expect(outputs.length).toBeGreaterThan(0);
    for (const p of outputs) {
      expect(p.startsWith(PREFIXES.uploads) || PREFIXES.uploads.startsWith(p), p).toBe(false);
    }
  });

  it("lets pipeline functions write where the trigger listens only to rewrite uploads without erased customers", () => {
    // Those rewrites are the one write under uploads/: runUpload recognises their events by the ETag the
    // writer records and skips them (test/integration/erasure.test.ts), so they cannot start runs. Every
    // other write of a pipeline function lies outside the trigger prefix.
    const bucketArn = JSON.stringify(getAtt(logicalId(sx, sx.stack.storage.bucket)));
    for (const fn of [sx.stack.pipeline.compute, sx.stack.pipeline.refresh]) {
      const writable = [...rolePermissions(sx, fn)].filter(([, actions]) => actions.includes("s3:PutObject"));
      expect(writable.length, fn.node.path).toBeGreaterThan(0);
      const triggering: string[] = [];
      for (const [resource] of writable) {
        // Only `<bucket ARN>/<prefix>*` forms are acceptable; anything else ("*", another bucket) fails here.
        const join = JSON.parse(resource)["Fn::Join"]?.[1] as unknown[] | undefined;
        expect(join?.length === 2 && JSON.stringify(join[0]) === bucketArn, resource).toBe(true);
        const keyPattern = String(join?.[1]).replace(/^\//, "").replace(/\*$/, "");
        const overlaps = keyPattern.startsWith(PREFIXES.uploads) || PREFIXES.uploads.startsWith(keyPattern);
        if (overlaps) triggering.push(keyPattern);
      }
      // Exactly the upload prefix, never a wider pattern that would also cover outputs.
      expect(triggering, fn.node.path).toEqual([PREFIXES.uploads]);
    }
  });
});

describe("refresh schedule", () => {
  it("runs refresh daily at REFRESH_SCHEDULE (UTC)", () => {
    // EventBridge cron fields: minute hour day-of-month month day-of-week year; '?' because day-of-month is set.
    const expected = `cron(${REFRESH_SCHEDULE.minute} ${REFRESH_SCHEDULE.hour} * * ? *)`;
    sx.template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: expected,
      State: "ENABLED",
      Targets: [Match.objectLike({ Arn: getAtt(sx.stack.pipeline.refresh.logicalId) })],
    });
  });
});

describe("sweeper", () => {
  it(`runs the sweeper every ${SWEEP_EVERY_MINUTES} minutes with a dead-letter queue and a retry policy`, () => {
    const retry = new Capture();
    sx.template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: `rate(${SWEEP_EVERY_MINUTES} minutes)`,
      State: "ENABLED",
      Targets: [
        Match.objectLike({
          Arn: getAtt(sx.stack.pipeline.sweeper.logicalId),
          DeadLetterConfig: { Arn: getAtt(logicalId(sx, sx.stack.pipeline.sweepDeadLetters)) },
          RetryPolicy: retry,
        }),
      ],
    });
    expect(retry.asObject().MaximumRetryAttempts).toBeGreaterThan(0);
  });

  it("sends an abandoned upload's redelivery to compute, and a refresh's or erasure's to refresh, with a dead-letter queue", () => {
    for (const [kinds, fn] of [
      [["upload"], sx.stack.pipeline.compute],
      [["refresh", "erasure"], sx.stack.pipeline.refresh],
    ] as const) {
      const retry = new Capture();
      sx.template.hasResourceProperties("AWS::Events::Rule", {
        EventBusName: ref(logicalId(sx, sx.stack.bus)),
        EventPattern: {
          source: [EVENT_SOURCE],
          "detail-type": [DETAIL_TYPES.runRedelivery],
          detail: { redelivery: { kind: kinds } },
        },
        Targets: [
          Match.objectLike({
            Arn: getAtt(fn.logicalId),
            DeadLetterConfig: { Arn: getAtt(logicalId(sx, sx.stack.pipeline.redeliveryDeadLetters)) },
            RetryPolicy: retry,
          }),
        ],
      });
      expect(retry.asObject().MaximumRetryAttempts).toBeGreaterThan(0);
    }
  });

  it("runs one sweep at a time, sends its failed events to its own queue, and names the bus to it", () => {
    const props = functionProps(sx, sx.stack.pipeline.sweeper);
    expect(props.ReservedConcurrentExecutions).toBe(1);
    expect(props.Environment.Variables.EVENT_BUS_NAME).toEqual(ref(logicalId(sx, sx.stack.bus)));
    sx.template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: ref(sx.stack.pipeline.sweeper.logicalId),
      DestinationConfig: {
        OnFailure: { Destination: getAtt(logicalId(sx, sx.stack.pipeline.sweeperFailures)) },
      },
    });
  });
});

describe("recompute requests", () => {
  it("sends 'Recompute Requested' events of the service's bus, and only those, to refresh with a dead-letter queue", () => {
    const retry = new Capture();
    sx.template.hasResourceProperties("AWS::Events::Rule", {
      EventBusName: ref(logicalId(sx, sx.stack.bus)),
      EventPattern: { source: [EVENT_SOURCE], "detail-type": [DETAIL_TYPES.recomputeRequested] },
      Targets: [
        Match.objectLike({
          Arn: getAtt(sx.stack.pipeline.refresh.logicalId),
          DeadLetterConfig: { Arn: getAtt(logicalId(sx, sx.stack.pipeline.recomputeDeadLetters)) },
          RetryPolicy: retry,
        }),
      ],
    });
    expect(retry.asObject().MaximumRetryAttempts).toBeGreaterThan(0);
  });

  it("sends 'Erasure Requested' events of the service's bus, and only those, to refresh with a dead-letter queue", () => {
    const retry = new Capture();
    sx.template.hasResourceProperties("AWS::Events::Rule", {
      EventBusName: ref(logicalId(sx, sx.stack.bus)),
      EventPattern: { source: [EVENT_SOURCE], "detail-type": [DETAIL_TYPES.erasureRequested] },
      Targets: [
        Match.objectLike({
          Arn: getAtt(sx.stack.pipeline.refresh.logicalId),
          DeadLetterConfig: { Arn: getAtt(logicalId(sx, sx.stack.pipeline.erasureDeadLetters)) },
          RetryPolicy: retry,
        }),
      ],
    });
    expect(retry.asObject().MaximumRetryAttempts).toBeGreaterThan(0);
  });

  it("names the bus to every function that puts events on it, and to no other", () => {
    const { readApi, writeApi } = sx.stack.api.functions;
    const busName = ref(logicalId(sx, sx.stack.bus));
    for (const fn of [writeApi, sx.stack.pipeline.compute, sx.stack.pipeline.refresh]) {
      expect(functionProps(sx, fn).Environment.Variables.EVENT_BUS_NAME, fn.node.path).toEqual(busName);
    }
    expect(functionProps(sx, readApi).Environment.Variables.EVENT_BUS_NAME).toBeUndefined();
  });
});

describe("dead letters", () => {
  it("sends compute's and refresh's events to their own queue after two retries", () => {
    const { compute, refresh, computeFailures, refreshFailures } = sx.stack.pipeline;
    for (const [fn, queue] of [
      [compute, computeFailures],
      [refresh, refreshFailures],
    ] as const) {
      sx.template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
        FunctionName: ref(fn.logicalId),
        Qualifier: "$LATEST",
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: Match.anyValue(),
        DestinationConfig: { OnFailure: { Destination: getAtt(logicalId(sx, queue)) } },
      });
    }
  });

  it("gives the schedule's target a dead-letter queue and a retry policy", () => {
    const retry = new Capture();
    sx.template.hasResourceProperties("AWS::Events::Rule", {
      Targets: [
        Match.objectLike({
          Arn: getAtt(sx.stack.pipeline.refresh.logicalId),
          DeadLetterConfig: { Arn: getAtt(logicalId(sx, sx.stack.pipeline.scheduleDeadLetters)) },
          RetryPolicy: retry,
        }),
      ],
    });
    expect(retry.asObject().MaximumRetryAttempts).toBeGreaterThan(0);
    // EventBridge allows 60 s to 24 h.
    expect(retry.asObject().MaximumEventAgeInSeconds).toBeGreaterThanOrEqual(60);
    expect(retry.asObject().MaximumEventAgeInSeconds).toBeLessThanOrEqual(86_400);
  });

  it("lets EventBridge send to the schedule's dead-letter queue only from the refresh rule", () => {
    const queueId = logicalId(sx, sx.stack.pipeline.scheduleDeadLetters);
    sx.template.hasResourceProperties("AWS::SQS::QueuePolicy", {
      Queues: [ref(queueId)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Allow",
            Action: "sqs:SendMessage",
            Principal: { Service: "events.amazonaws.com" },
            Condition: { ArnEquals: { "aws:SourceArn": getAtt(logicalId(sx, sx.stack.pipeline.schedule)) } },
            Resource: getAtt(queueId),
          }),
        ]),
      },
    });
  });

  it("encrypts every queue of the stack and refuses it over plain HTTP", () => {
    const queues = resourcesOfType(sx.template, "AWS::SQS::Queue");
    const {
      computeFailures,
      refreshFailures,
      scheduleDeadLetters,
      recomputeDeadLetters,
      erasureDeadLetters,
    } = sx.stack.pipeline;
    expect(Object.keys(queues)).toEqual(
      expect.arrayContaining(
        [computeFailures, refreshFailures, scheduleDeadLetters, recomputeDeadLetters, erasureDeadLetters].map(
          (q) => logicalId(sx, q),
        ),
      ),
    );
    for (const id of Object.keys(queues)) {
      expect(queues[id]?.Properties?.SqsManagedSseEnabled, id).toBe(true);
      sx.template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [ref(id)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: "Deny",
              Action: "sqs:*",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ]),
        },
      });
    }
  });

  it("alarms as soon as any dead-letter queue of the stack holds a message; a queue a function consumes redrives to one", () => {
    // The one queue with a consumer is the webhook wake-up queue (test/cdk/delivery.test.ts); every other
    // queue holds dead letters.
    const consumed = new Set(
      Object.values(resourcesOfType(sx.template, "AWS::Lambda::EventSourceMapping")).map(
        (m) => (m.Properties?.EventSourceArn as { "Fn::GetAtt"?: [string, string] })?.["Fn::GetAtt"]?.[0],
      ),
    );
    expect([...consumed]).toEqual([logicalId(sx, sx.stack.delivery.queue)]);
    const queues = resourcesOfType(sx.template, "AWS::SQS::Queue");
    for (const [id, queue] of Object.entries(queues)) {
      if (consumed.has(id)) {
        const redrive = queue.Properties?.RedrivePolicy as { deadLetterTargetArn: unknown } | undefined;
        const target = (redrive?.deadLetterTargetArn as { "Fn::GetAtt"?: [string, string] })?.[
          "Fn::GetAtt"
        ]?.[0];
        expect(target !== undefined && target in queues && !consumed.has(target), id).toBe(true);
        continue;
      }
      sx.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [{ Name: "QueueName", Value: getAtt(id, "QueueName") }],
        ComparisonOperator: "GreaterThanThreshold",
        Threshold: 0,
      });
    }
  });
});

describe("asynchronous functions", () => {
  it("give compute and refresh reserved concurrency, a 15-minute timeout and explicit memory", () => {
    for (const fn of [sx.stack.pipeline.compute, sx.stack.pipeline.refresh]) {
      const props = functionProps(sx, fn);
      expect(props.ReservedConcurrentExecutions, fn.node.path).toBeGreaterThanOrEqual(1);
      expect(props.Timeout, fn.node.path).toBe(900);
      expect(props.MemorySize, fn.node.path).toBe(3008);
    }
  });

  it("alarm on errors and on throttles of every function", () => {
    for (const [name, fn] of Object.entries(sx.stack.functions)) {
      for (const metric of ["Errors", "Throttles"]) {
        const alarms = resourcesOfType(sx.template, "AWS::CloudWatch::Alarm");
        const found = Object.values(alarms).filter(
          (a) =>
            a.Properties?.Namespace === "AWS/Lambda" &&
            a.Properties?.MetricName === metric &&
            JSON.stringify(a.Properties?.Dimensions) ===
              JSON.stringify([{ Name: "FunctionName", Value: ref(fn.logicalId) }]),
        );
        expect(found.length, `${name} ${metric}`).toBe(1);
        expect(found[0]?.Properties).toMatchObject({
          ComparisonOperator: "GreaterThanOrEqualToThreshold",
          Threshold: 1,
        });
      }
    }
  });
});
