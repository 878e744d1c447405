/**
 * The one error the clustering module throws for bad input or options: a 400-class error with a
 * machine-readable code and, where it applies, the feature and row at fault.
 */
import { BadRequestError } from "../../errors";

export type ClusteringErrorCode =
  | "CLUSTERING_NO_FEATURES"
  | "CLUSTERING_BAD_FEATURE"
  | "CLUSTERING_LENGTH_MISMATCH"
  | "CLUSTERING_NON_FINITE"
  | "CLUSTERING_BAD_OPTION"
  | "CLUSTERING_BAD_PREVIOUS";

export class ClusteringInputError extends BadRequestError {
  constructor(
    code: ClusteringErrorCode,
    message: string,
    readonly field?: string,
    readonly row?: number,
  ) {
    const path = field === undefined ? undefined : row === undefined ? field : `${field}[${row}]`;
    super(code, message, path === undefined ? [] : [{ path, code, message }]);
  }
}
