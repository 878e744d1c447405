/**
 * The one error type of the local emulators. Each failure carries a machine-readable code so callers (the
 * local service, the test setup) can tell "Java is missing" from "the download failed" from "it died at start".
 */

export type EmulatorErrorCode =
  | "JAVA_NOT_FOUND"
  | "DYNAMODB_LOCAL_DOWNLOAD_FAILED"
  | "DYNAMODB_LOCAL_VERIFY_FAILED"
  | "DYNAMODB_LOCAL_START_FAILED"
  | "DYNAMODB_LOCAL_START_TIMEOUT"
  | "DYNAMODB_LOCAL_PORT_IN_USE"
  | "S3_SERVER_START_FAILED"
  | "TABLE_SCHEMA_MISMATCH"
  | "TABLE_NOT_ACTIVE";

export class EmulatorError extends Error {
  constructor(
    readonly code: EmulatorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "EmulatorError";
  }
}
