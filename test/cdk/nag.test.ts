/**
 * cdk-nag on the app, with the same packs `cdk synth` runs (infra/checks.ts): no finding may be left
 * unacknowledged, every acknowledgement names one rule (and, for IAM wildcards, the exact resource or
 * policy) with a reason, and none is stale, i.e. each still matches a finding. Run on the default app
 * (own user pool, retained data) and on a throw-away stage with an OIDC issuer, whose resources differ.
 */
import { CfnResource, type Stack } from "aws-cdk-lib";
import { Code, Function as LambdaFunction, Runtime } from "aws-cdk-lib/aws-lambda";
import { Bucket } from "aws-cdk-lib/aws-s3";
import type { INagSuppressionIgnore, SuppressionIgnoreInput } from "cdk-nag";
import { afterAll, describe, expect, it } from "vitest";
import { buildApp } from "../../infra/build";
import { addComplianceChecks } from "../../infra/checks";
import { removeOutdirs, tempOutdir } from "./synth";

afterAll(removeOutdirs);

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
  readonly appliesTo: readonly string[] | undefined;
}

interface NagRun {
  /** Error and warning annotations of the stack: unacknowledged findings (and any other CDK warning). */
  readonly findings: string[];
  readonly acknowledgements: Acknowledgement[];
  /** Acknowledgements no finding matched, as `rule [finding] reason`. */
  readonly unused: string[];
  /** Stack-wide acknowledgements, which would hide findings on resources added later. */
  readonly stackWide: unknown[];
}

/** Records which acknowledgement each suppressed finding matched, and never overrides one. */
class MatchRecorder implements INagSuppressionIgnore {
  readonly matched = new Set<string>();
  createMessage(input: SuppressionIgnoreInput): string {
    this.matched.add(key(input.ruleId, input.findingId, input.reason));
    this.matched.add(key(input.ruleId, "*", input.reason));
    return "";
  }
}
const key = (id: string, finding: string, reason: string) => `${id} [${finding}] ${reason}`;

/** Builds the app with `context`, lets `extend` add resources, and synthesizes it with both packs. */
function runNag(context: Record<string, unknown>, extend?: (stack: Stack) => void): NagRun {
  const { app, stack } = buildApp({
    // Findings do not depend on function code: no bundling.
    appProps: { outdir: tempOutdir(), context: { ...context, "aws:cdk:bundling-stacks": [] } },
  });
  extend?.(stack);
  const recorder = new MatchRecorder();
  addComplianceChecks(app, { suppressionIgnoreCondition: recorder });
  const messages = app.synth().getStackByName(stack.stackName).messages;

  const acknowledgements: Acknowledgement[] = [];
  for (const construct of stack.node.findAll()) {
    if (!(construct instanceof CfnResource)) continue;
    const rules = (construct.getMetadata("cdk_nag") as { rules_to_suppress?: unknown[] } | undefined)
      ?.rules_to_suppress;
    for (const rule of (rules ?? []) as Array<{ id: string; reason: string; applies_to?: string[] }>) {
      acknowledgements.push({
        path: construct.node.path,
        id: rule.id,
        reason: rule.reason,
        appliesTo: rule.applies_to,
      });
    }
  }
  const unused = new Set<string>();
  for (const a of acknowledgements) {
    for (const finding of a.appliesTo ?? ["*"]) {
      const k = key(a.id, String(finding), a.reason);
      if (!recorder.matched.has(k)) unused.add(k);
    }
  }
  const stackMetadata = stack.templateOptions.metadata as
    | { cdk_nag?: { rules_to_suppress?: unknown[] } }
    | undefined;
  return {
    findings: messages
      .filter((m) => m.level === "error" || m.level === "warning")
      .map((m) => `${m.id}: ${String(m.entry.data).split("\n")[0]}`),
    acknowledgements,
    unused: [...unused],
    stackWide: stackMetadata?.cdk_nag?.rules_to_suppress ?? [],
  };
}

const VARIANTS = {
  "the default app (own user pool, retained data)": {},
  "a throw-away stage on an OIDC issuer, with destination buckets": {
    destroyOnRemoval: "true",
    destinationBuckets: "crm-exports,ads-audiences",
    oidcIssuer: "https://login.example.com/",
    oidcAudience: "segments",
  },
} as const;

describe.each(Object.entries(VARIANTS))("cdk-nag on %s", (_name, context) => {
  const run = (() => {
    let cached: NagRun | undefined;
    return () => {
      cached ??= runNag(context);
      return cached;
    };
  })();

  it("leaves no error or warning unacknowledged (AwsSolutions and Serverless packs)", () => {
    expect(run().findings).toEqual([]);
  });

  it("gives every acknowledgement one rule of the two packs and a specific reason", () => {
    expect(run().acknowledgements.length).toBeGreaterThan(0);
    for (const a of run().acknowledgements) {
      expect(a.id, a.path).toMatch(/^(AwsSolutions|Serverless)-[A-Za-z0-9]+$/);
      expect(a.reason.length, `${a.path} ${a.id}`).toBeGreaterThanOrEqual(60);
      // A wildcard or managed-policy acknowledgement must name what it accepts, never the whole rule.
      if (/^AwsSolutions-IAM[45]$/.test(a.id))
        expect(a.appliesTo?.length, `${a.path} ${a.id}`).toBeGreaterThan(0);
    }
  });

  it("has no stale acknowledgement: each one still matches a finding", () => {
    expect(run().unused).toEqual([]);
  });

  it("acknowledges nothing stack-wide", () => {
    expect(run().stackWide).toEqual([]);
  });
});

describe("the checks themselves", () => {
  it("report findings on resources nobody hardened, as errors and as warnings", () => {
    const { findings } = runNag({}, (stack) => {
      new Bucket(stack, "ProbeBucket");
      new LambdaFunction(stack, "ProbeFunction", {
        runtime: Runtime.NODEJS_22_X,
        handler: "index.handler",
        code: Code.fromInline("exports.handler = async () => {};"),
      });
    });
    const rules = (construct: string) =>
      findings
        .filter((f) => f.startsWith(`/segmentation-dev/${construct}/`))
        .map((f) => f.split(": ")[1]?.split(/[[:]/)[0]);
    // AwsSolutions: no server access logs, no TLS-only policy; Serverless: no tracing (a warning), no DLQ.
    expect(rules("ProbeBucket")).toEqual(expect.arrayContaining(["AwsSolutions-S1", "AwsSolutions-S10"]));
    expect(rules("ProbeFunction")).toEqual(
      expect.arrayContaining(["Serverless-LambdaTracing", "Serverless-LambdaDLQ", "AwsSolutions-L1"]),
    );
  });
});
