/**
 * The closed set of error codes the platform answers with, and the one error class that carries them.
 * One table gives each code its HTTP status and whether a retry may help; the HTTP error handler and the
 * CLI both read it, so a code means the same thing everywhere.
 */

export const errorCodes = {
  BAD_REQUEST: { status: 400, retryable: false },
  VALIDATION_FAILED: { status: 400, retryable: false },
  UNAUTHENTICATED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  CONFLICT: { status: 409, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  TENANT_SUSPENDED: { status: 403, retryable: false },
  QUOTA_EXCEEDED: { status: 403, retryable: false },
  RATE_LIMITED: { status: 429, retryable: true },
  UNAVAILABLE: { status: 503, retryable: true },
  NOT_IMPLEMENTED: { status: 501, retryable: false },
  INTERNAL: { status: 500, retryable: true },
  /** A statement ran past the tenant's database statement timeout (quota dbStatementTimeoutMs). */
  DB_STATEMENT_TIMEOUT: { status: 429, retryable: false },
  /** The tenant already has its quota's number of database operations admitted (dbMaxConcurrentOperations). */
  DB_CONCURRENCY_LIMITED: { status: 429, retryable: true },
  /** The tenant's database time per second (dbTimeMsPerSecond) is spent for longer than the queue wait. */
  DB_TIME_LIMITED: { status: 429, retryable: true },
  /** An OCI image archive or layer was refused (hostile entry, digest mismatch, unreadable format); details.check says which. */
  IMAGE_REFUSED: { status: 422, retryable: false },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.hasOwn(errorCodes, value);

export interface AppErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

/** The one error type of the platform. `message` is safe to show to the caller: never put secrets in it. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
  }

  get status(): number {
    return errorCodes[this.code].status;
  }
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;
