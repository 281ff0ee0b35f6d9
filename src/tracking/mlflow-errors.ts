/**
 * Errors raised in MLflow's vocabulary. MLflow clients read `{"error_code", "message"}` and branch on the
 * code (`set_experiment` creates only after RESOURCE_DOES_NOT_EXIST, `register_model` relies on
 * RESOURCE_ALREADY_EXISTS), so the tracking services raise MLflow's codes. Each is an `AppError` (the one
 * error type) with the platform code of the same meaning (`appCode` below): the platform's API renders
 * that code, and the MLflow routes render the MLflow code and status, in one place (http/error-handler.ts;
 * docs/adr/0003-one-error-boundary.md). Nothing converts one into the other.
 *
 * HTTP statuses follow MLflow's server table (mlflow/exceptions.py, ERROR_CODE_TO_HTTP_STATUS; codes
 * from mlflow/protos/databricks.proto). Two of them look surprising and are kept on purpose:
 * RESOURCE_ALREADY_EXISTS answers 400 and INVALID_STATE answers 500. RESOURCE_LIMIT_EXCEEDED is absent
 * from MLflow's table, so MLflow answers it with its fallback, 500.
 */

import { AppError } from '../core/errors.ts';
import type { ErrorCode } from '../core/errors.ts';

export const mlflowErrorCodes = {
  INVALID_PARAMETER_VALUE: { httpStatus: 400, retryable: false, appCode: 'VALIDATION_FAILED' },
  BAD_REQUEST: { httpStatus: 400, retryable: false, appCode: 'BAD_REQUEST' },
  RESOURCE_ALREADY_EXISTS: { httpStatus: 400, retryable: false, appCode: 'CONFLICT' },
  UNAUTHENTICATED: { httpStatus: 401, retryable: false, appCode: 'UNAUTHENTICATED' },
  PERMISSION_DENIED: { httpStatus: 403, retryable: false, appCode: 'FORBIDDEN' },
  RESOURCE_DOES_NOT_EXIST: { httpStatus: 404, retryable: false, appCode: 'NOT_FOUND' },
  INTERNAL_ERROR: { httpStatus: 500, retryable: true, appCode: 'INTERNAL' },
  INVALID_STATE: { httpStatus: 500, retryable: false, appCode: 'CONFLICT' },
  // Not in MLflow's table: MLflow falls back to 500. Note that the MLflow Python client retries 500
  // responses with backoff, so a caller that refuses for a quota may prefer another code.
  RESOURCE_LIMIT_EXCEEDED: { httpStatus: 500, retryable: false, appCode: 'QUOTA_EXCEEDED' },
  NOT_IMPLEMENTED: { httpStatus: 501, retryable: false, appCode: 'NOT_IMPLEMENTED' },
} as const satisfies Record<string, { httpStatus: number; retryable: boolean; appCode: ErrorCode }>;

export type MlflowErrorCode = keyof typeof mlflowErrorCodes;

/** Whether a string is one of the MLflow error codes this server answers with. */
export const isMlflowErrorCode = (value: unknown): value is MlflowErrorCode =>
  typeof value === 'string' && Object.hasOwn(mlflowErrorCodes, value);

/**
 * An `AppError` raised with an MLflow code: its platform code is the code of the same meaning, and it
 * keeps the MLflow code and status for the MLflow routes' rendering. `message` is shown to the caller:
 * never put secrets in it.
 */
export class MlflowError extends AppError {
  readonly errorCode: MlflowErrorCode;
  readonly httpStatus: number;

  constructor(errorCode: MlflowErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(mlflowErrorCodes[errorCode].appCode, message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'MlflowError';
    this.errorCode = errorCode;
    this.httpStatus = mlflowErrorCodes[errorCode].httpStatus;
  }

  /** The response body MLflow's server sends for an error. */
  toJSON(): { error_code: MlflowErrorCode; message: string } {
    return { error_code: this.errorCode, message: this.message };
  }
}

/** Whether a thrown value is an {@link MlflowError} (to be answered as is) rather than an unexpected error. */
export const isMlflowError = (error: unknown): error is MlflowError => error instanceof MlflowError;

/** Module-level constructors, so each kind of message is built in one place. */
export const mlflowErrors = {
  invalidParameter: (message: string): MlflowError => new MlflowError('INVALID_PARAMETER_VALUE', message),
  notFound: (message: string): MlflowError => new MlflowError('RESOURCE_DOES_NOT_EXIST', message),
  alreadyExists: (message: string): MlflowError => new MlflowError('RESOURCE_ALREADY_EXISTS', message),
  invalidState: (message: string): MlflowError => new MlflowError('INVALID_STATE', message),
  notImplemented: (message: string): MlflowError => new MlflowError('NOT_IMPLEMENTED', message),
} as const;
