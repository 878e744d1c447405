/**
 * Compliance checks run on every synthesis of the app: cdk-nag's AWS Solutions pack and its Serverless
 * pack (the latter adds Lambda DLQ, timeout, memory and tracing checks the former lacks). A finding is an
 * error annotation, which fails `cdk synth` and the nag test; each accepted finding is acknowledged with
 * `NagSuppressions` next to the resource it concerns, with the reason.
 */
import { Aspects } from "aws-cdk-lib";
import { AwsSolutionsChecks, type NagPackProps, ServerlessChecks } from "cdk-nag";
import type { IConstruct } from "constructs";

/** Adds both packs to `scope`; `props` lets a test observe them (e.g. which acknowledgements matched). */
export function addComplianceChecks(scope: IConstruct, props: NagPackProps = {}): void {
  Aspects.of(scope).add(new AwsSolutionsChecks({ verbose: true, ...props }));
  Aspects.of(scope).add(new ServerlessChecks({ verbose: true, ...props }));
}
