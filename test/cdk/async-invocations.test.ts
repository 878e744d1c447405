/**
 * Reliability property 14 over the whole synthesized template rather than function by function: every
 * function something invokes asynchronously (a bucket notification, an EventBridge rule, or any other
 * service granted to invoke it asynchronously) has an on-failure destination or dead-letter queue, an
 * explicit timeout and memory, reserved concurrency and an error alarm; every EventBridge target has a
 * dead-letter queue and a retry policy; every queue that receives failures is alarmed. A function or rule
 * added later without them fails here without anyone having to add it to a list.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeOutdirs, resourcesOfType, type Synthesized, synth } from "./synth";

let sx: Synthesized;
beforeAll(() => {
  sx = synth({}, { bundling: false });
});
afterAll(removeOutdirs);

/** Services whose invocations of a function are asynchronous (Lambda's "asynchronous invocation" list). */
const ASYNC_PRINCIPALS = new Set([
  "s3.amazonaws.com",
  "events.amazonaws.com",
  "scheduler.amazonaws.com",
  "sns.amazonaws.com",
  "logs.amazonaws.com",
  "ses.amazonaws.com",
  "iot.amazonaws.com",
]);

/** The logical id an `{ "Fn::GetAtt": [id, "Arn"] }` or `{ "Ref": id }` points at. */
function target(value: unknown): string | undefined {
  const v = value as { "Fn::GetAtt"?: [string, string]; Ref?: string } | undefined;
  return v?.["Fn::GetAtt"]?.[0] ?? v?.Ref;
}

function asyncFunctions(): Set<string> {
  const ids = new Set<string>();
  for (const permission of Object.values(resourcesOfType(sx.template, "AWS::Lambda::Permission"))) {
    const props = permission.Properties as { Principal?: string; FunctionName?: unknown };
    if (props.Principal && ASYNC_PRINCIPALS.has(props.Principal)) {
      const id = target(props.FunctionName);
      if (id) ids.add(id);
    }
  }
  for (const rule of Object.values(resourcesOfType(sx.template, "AWS::Events::Rule"))) {
    for (const t of (rule.Properties?.Targets ?? []) as Array<{ Arn: unknown }>) {
      const id = target(t.Arn);
      if (id && sx.template.toJSON().Resources[id]?.Type === "AWS::Lambda::Function") ids.add(id);
    }
  }
  for (const n of Object.values(resourcesOfType(sx.template, "Custom::S3BucketNotifications"))) {
    const config = n.Properties?.NotificationConfiguration as {
      LambdaFunctionConfigurations?: Array<{ LambdaFunctionArn: unknown }>;
    };
    for (const c of config.LambdaFunctionConfigurations ?? []) {
      const id = target(c.LambdaFunctionArn);
      if (id) ids.add(id);
    }
  }
  return ids;
}

function alarmed(namespace: string, metric: string, dimension: string, id: string, attribute?: string) {
  return Object.values(resourcesOfType(sx.template, "AWS::CloudWatch::Alarm")).some((alarm) => {
    const p = alarm.Properties as { Namespace?: string; MetricName?: string; Dimensions?: unknown[] };
    const dims = JSON.stringify(p.Dimensions ?? []);
    const value = attribute ? { "Fn::GetAtt": [id, attribute] } : { Ref: id };
    return (
      p.Namespace === namespace &&
      p.MetricName === metric &&
      dims === JSON.stringify([{ Name: dimension, Value: value }])
    );
  });
}

describe("asynchronously invoked functions", () => {
  it("are found: the upload trigger's and the rules' targets", () => {
    // compute (bucket notification) and refresh (schedule, recompute and erasure rules) at least.
    expect(asyncFunctions().size).toBeGreaterThanOrEqual(2);
  });

  it("each have an on-failure destination or DLQ, timeout, memory, reserved concurrency and an error alarm", () => {
    const resources = sx.template.toJSON().Resources;
    const invokeConfigs = Object.values(resourcesOfType(sx.template, "AWS::Lambda::EventInvokeConfig"));
    for (const id of asyncFunctions()) {
      const props = resources[id].Properties;
      expect(props.Timeout, id).toBeGreaterThan(0);
      expect(props.MemorySize, id).toBeGreaterThanOrEqual(128);
      expect(props.ReservedConcurrentExecutions, id).toBeGreaterThanOrEqual(1);
      const config = invokeConfigs.find((c) => target(c.Properties?.FunctionName) === id);
      const destination = (config?.Properties?.DestinationConfig as { OnFailure?: { Destination: unknown } })
        ?.OnFailure?.Destination;
      const failureQueue = target(destination) ?? target(props.DeadLetterConfig?.TargetArn);
      expect(failureQueue, `${id} has no on-failure destination or dead-letter queue`).toBeDefined();
      expect(resources[failureQueue as string]?.Type, id).toBe("AWS::SQS::Queue");
      expect(
        alarmed(
          "AWS/SQS",
          "ApproximateNumberOfMessagesVisible",
          "QueueName",
          failureQueue as string,
          "QueueName",
        ),
        `${failureQueue} is not alarmed`,
      ).toBe(true);
      expect(alarmed("AWS/Lambda", "Errors", "FunctionName", id), `${id} has no error alarm`).toBe(true);
    }
  });
});

describe("EventBridge rules", () => {
  it("give every target a dead-letter queue, alarmed, and a retry policy within EventBridge's limits", () => {
    const rules = Object.entries(resourcesOfType(sx.template, "AWS::Events::Rule"));
    expect(rules.length).toBeGreaterThan(0);
    for (const [ruleId, rule] of rules) {
      const targets = (rule.Properties?.Targets ?? []) as Array<{
        DeadLetterConfig?: { Arn: unknown };
        RetryPolicy?: { MaximumRetryAttempts?: number; MaximumEventAgeInSeconds?: number };
      }>;
      expect(targets.length, ruleId).toBeGreaterThan(0);
      for (const t of targets) {
        const queue = target(t.DeadLetterConfig?.Arn);
        expect(queue, `${ruleId} target without a dead-letter queue`).toBeDefined();
        expect(
          alarmed("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue as string, "QueueName"),
          `${queue} is not alarmed`,
        ).toBe(true);
        expect(t.RetryPolicy?.MaximumRetryAttempts, ruleId).toBeGreaterThanOrEqual(0);
        expect(t.RetryPolicy?.MaximumEventAgeInSeconds, ruleId).toBeGreaterThanOrEqual(60);
        expect(t.RetryPolicy?.MaximumEventAgeInSeconds, ruleId).toBeLessThanOrEqual(86_400);
      }
    }
  });
});
