/**
 * Test helpers for the CDK stack: build the app the way `cdk synth` does, and read IAM statements and
 * references out of its template. Code assets are left unbuilt: bundling changes no resource but the
 * assets' hashes, and esbuild over every function takes minutes, so the bundled code the tests look at comes
 * from the one `cdk synth` of the test run (`cliSynth` in ./assembly).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { buildApp } from "../../infra/build";
import type { ServiceFunction } from "../../infra/constructs/service-function";
import type { SegmentationStack } from "../../infra/stacks/segmentation-stack";

export interface Synthesized {
  stack: SegmentationStack;
  template: Template;
}

/** Assembly directories made by this test file, for `removeOutdirs` in its afterAll. */
const outdirs: string[] = [];

export function removeOutdirs(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A fresh assembly directory for an App (bundled code lands here). */
export function tempOutdir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cdk-test-"));
  outdirs.push(dir);
  return dir;
}

export function synth(
  context: Record<string, unknown> = {},
  options: { bundling?: boolean } = {},
): Synthesized {
  const bundling = options.bundling ?? false;
  const { stack } = buildApp({
    appProps: {
      outdir: tempOutdir(),
      context: { ...context, ...(bundling ? {} : { "aws:cdk:bundling-stacks": [] }) },
    },
  });
  return { stack, template: Template.fromStack(stack) };
}

type Json = unknown;
type Resource = { Type: string; Properties?: Record<string, Json>; DeletionPolicy?: string };

export const getAtt = (logicalId: string, attribute = "Arn") => ({ "Fn::GetAtt": [logicalId, attribute] });
export const ref = (logicalId: string) => ({ Ref: logicalId });

/** The CloudFormation form of `arn:…:bucket/<prefix>*` for the bucket with this logical id. */
export const objectArn = (bucketId: string, prefix: string) => ({
  "Fn::Join": ["", [getAtt(bucketId), `/${prefix}*`]],
});

export function resourcesOfType(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** The CloudFormation properties of a function of the stack. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON is read field by field and checked by the assertions.
export function functionProps(sx: Synthesized, fn: ServiceFunction): Record<string, any> {
  return sx.template.toJSON().Resources[fn.logicalId].Properties;
}

/** Logical id of a construct's default CloudFormation resource. */
export function logicalId(sx: Synthesized, construct: IConstruct): string {
  return sx.stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/**
 * Every Allow of a function's role, as resource (JSON of its CloudFormation value) -> sorted actions.
 * Statements are flattened so the result does not depend on how CDK groups or merges them. A statement with
 * a condition is keyed by its resource and its condition (see `permissions`). A Deny, NotAction or
 * NotResource would make this picture wrong, so it throws instead.
 */
export function rolePermissions(sx: Synthesized, fn: ServiceFunction): Map<string, string[]> {
  const roleId: string = functionProps(sx, fn).Role["Fn::GetAtt"][0];
  const byResource = new Map<string, Set<string>>();
  for (const policy of Object.values(resourcesOfType(sx.template, "AWS::IAM::Policy"))) {
    const roles = (policy.Properties?.Roles ?? []) as Json[];
    if (!roles.some((r) => JSON.stringify(r) === JSON.stringify(ref(roleId)))) continue;
    const doc = policy.Properties?.PolicyDocument as { Statement: Array<Record<string, Json>> };
    for (const st of doc.Statement) {
      if (st.Effect !== "Allow" || st.NotAction || st.NotResource) {
        throw new Error(`unexpected statement shape: ${JSON.stringify(st)}`);
      }
      const actions = ([] as Json[]).concat(st.Action as Json) as string[];
      const resources = ([] as Json[]).concat(st.Resource as Json);
      for (const r of resources) {
        const key = permissionKey(r, st.Condition);
        const set = byResource.get(key) ?? new Set<string>();
        for (const a of actions) set.add(a);
        byResource.set(key, set);
      }
    }
  }
  return new Map([...byResource].map(([r, set]) => [r, [...set].sort()]));
}

/** The key of a resource, and of the condition that limits the grant on it, in `rolePermissions`. */
function permissionKey(resource: Json, condition?: Json): string {
  return condition === undefined
    ? JSON.stringify(resource)
    : `${JSON.stringify(resource)} if ${JSON.stringify(condition)}`;
}

/** Builds the expected map of `rolePermissions` from readable entries. */
export function permissions(
  entries: Array<[resource: Json, actions: string[], condition?: Json]>,
): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [resource, actions, condition] of entries) {
    map.set(permissionKey(resource, condition), [...actions].sort());
  }
  return map;
}
