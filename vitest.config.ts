import { defineConfig } from "vitest/config";
import { SlowFirstSequencer } from "./test/support/sequencer";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    // Hooks start emulators, child services and Chromium, and one CDK test file runs the `cdk synth` (esbuild
    // over every function) the others share: minutes on a busy 2-core machine. The deadline only catches a hang.
    hookTimeout: 600_000,
    pool: "forks",
    // Both cores: most test files wait on DynamoDB Local, the S3 server, a child service or Chromium, so two
    // files at a time finish the suite in about half the time of one.
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
    allowOnly: false,
    passWithNoTests: false,
    reporters: ["default"],
    env: { LOG_LEVEL: "SILENT" },
    globalSetup: ["test/support/global-setup.ts"],
  },
});
