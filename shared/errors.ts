/**
 * Typed errors of the service. Domain code throws these; one middleware maps them to HTTP responses of the
 * shape `{ error: { code, message, details } }`. Messages are precise but never carry customer data.
 */

export interface ErrorDetail {
  /** Where the problem is: a field path ("body.mode"), a row, a parameter. */
  path?: string;
  code: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends AppError {
  constructor(code: string, message: string, details: ErrorDetail[] = []) {
    super(400, code, message, details);
  }
}

export class ValidationError extends BadRequestError {
  constructor(message: string, details: ErrorDetail[]) {
    super("VALIDATION_FAILED", message, details);
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, message: string) {
    super(404, code, message);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string) {
    super(409, code, message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message: string) {
    super(413, "PAYLOAD_TOO_LARGE", message);
  }
}

/**
 * A failure the pipeline should retry (the asynchronous invoke retries it, then dead-letters it), as opposed
 * to a failure of the input, which is recorded on the run and not retried.
 */
export class RetryableError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "RetryableError";
  }
}
