/**
 * Errors of the predicted-value module. Bad input (a value out of its domain, arrays of different lengths,
 * an option out of range) is a 400-class `ClvInputError` naming the field and row at fault. Data that is
 * valid but cannot support a model (nobody bought twice, so there is nothing to learn a repeat rate or an
 * order-value spread from) is a `ClvFitError`, which callers may catch to fall back as documented in
 * `predict.ts`.
 */
import { AppError, BadRequestError } from "../../errors";

export type ClvInputErrorCode =
  | "CLV_EMPTY"
  | "CLV_LENGTH_MISMATCH"
  | "CLV_BAD_VALUE"
  | "CLV_BAD_WEIGHT"
  | "CLV_BAD_OPTION"
  | "CLV_BAD_PARAMS";

export class ClvInputError extends BadRequestError {
  constructor(
    code: ClvInputErrorCode,
    message: string,
    readonly field?: string,
    readonly row?: number,
  ) {
    const path = field === undefined ? undefined : row === undefined ? field : `${field}[${row}]`;
    super(code, message, path === undefined ? [] : [{ path, code, message }]);
  }
}

export type ClvFitErrorCode =
  /** No customer made a repeat purchase: the BG/NBD purchase and dropout processes are not identified. */
  | "CLV_NO_REPEAT_PURCHASES"
  /** No customer with a repeat purchase has a positive mean repeat-order value: Gamma-Gamma cannot fit. */
  | "CLV_NO_MONETARY_DATA"
  /** The likelihood could not be evaluated at any point the optimiser tried (no finite maximum found). */
  | "CLV_FIT_FAILED";

export class ClvFitError extends AppError {
  constructor(
    override readonly code: ClvFitErrorCode,
    message: string,
  ) {
    super(422, code, message);
  }
}
