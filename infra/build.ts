/**
 * Builds the CDK app from its context: validates the settings, then creates one stack per stage
 * (`-c stage=prod` gives `segmentation-prod`; see infra/config.ts for every setting). Kept apart from the
 * entry file so tests can build the same app without synthesizing it to disk.
 */
import { App, type AppProps, Tags } from "aws-cdk-lib";
import { parseAppConfig } from "./config";
import { SERVICE_NAME, SegmentationStack } from "./stacks/segmentation-stack";

export interface BuildOptions {
  readonly appProps?: AppProps;
}

export function buildApp(options: BuildOptions = {}): { app: App; stack: SegmentationStack } {
  const app = new App(options.appProps);
  const config = parseAppConfig((key) => app.node.tryGetContext(key));
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const region = process.env.CDK_DEFAULT_REGION;
  const stack = new SegmentationStack(app, `${SERVICE_NAME}-${config.stage}`, {
    config,
    description: `Customer segmentation service (${config.stage})`,
    // Environment-agnostic unless the CLI knows the account, so synth needs no credentials.
    ...(account && region ? { env: { account, region } } : {}),
  });
  Tags.of(app).add("service", SERVICE_NAME);
  Tags.of(app).add("stage", config.stage);
  return { app, stack };
}
