/**
 * The service's structured JSON logger. Log only identifiers the service made (dataset, run, upload ids),
 * counts and error codes: never customer ids, attribute values or raw rows.
 */
import { Logger } from "@aws-lambda-powertools/logger";

const level = process.env.LOG_LEVEL ?? "INFO";

export const logger = new Logger({
  serviceName: process.env.SERVICE_NAME ?? "segmentation",
  logLevel: level as "DEBUG" | "INFO" | "WARN" | "ERROR" | "SILENT",
});

/** Reduces an unknown error to fields that are safe to log: its class and code, never its message text. */
export function errorFields(error: unknown): Record<string, string> {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { errorName: error.name, ...(typeof code === "string" ? { errorCode: code } : {}) };
  }
  return { errorName: typeof error };
}
