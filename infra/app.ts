/** Entry of the CDK app, run by `cdk.json`. A bad context value stops synth with one clear line. */

import { buildApp } from "./build";
import { ContextError } from "./config";

try {
  buildApp().app.synth();
} catch (error) {
  if (error instanceof ContextError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
