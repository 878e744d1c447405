import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    allowOnly: false,
    passWithNoTests: false,
    reporters: ["default"],
    env: { LOG_LEVEL: "SILENT" },
    globalSetup: ["test/support/global-setup.ts"],
  },
});
