/** Entry of the CDK app, run by `cdk.json`. A bad context value stops synth with one clear line. */

import { buildApp } from "./build";
import { addComplianceChecks } from "./checks";
import { ContextError } from "./config";

try {
  const { app } = buildApp();
  addComplianceChecks(app);
  app.synth();
} catch (error) {
  if (error instanceof ContextError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
