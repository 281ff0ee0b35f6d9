import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, errorCodes, isAppError } from '../core/errors.ts';
import type { ErrorCode } from '../core/errors.ts';
import { isMlflowError } from '../tracking/index.ts';

/** The one error body of the API. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  requestId: string;
  details?: Record<string, unknown>;
}

/** Our codes in MLflow's vocabulary (mlflow/protos/databricks.proto), for routes that speak MLflow. */
export const mlflowCodes: Record<ErrorCode, string> = {
  BAD_REQUEST: 'BAD_REQUEST',
  VALIDATION_FAILED: 'INVALID_PARAMETER_VALUE',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'PERMISSION_DENIED',
  NOT_FOUND: 'RESOURCE_DOES_NOT_EXIST',
  CONFLICT: 'RESOURCE_ALREADY_EXISTS',
  PAYLOAD_TOO_LARGE: 'INVALID_PARAMETER_VALUE',
  UNSUPPORTED_MEDIA_TYPE: 'INVALID_PARAMETER_VALUE',
  TENANT_SUSPENDED: 'PERMISSION_DENIED',
  QUOTA_EXCEEDED: 'RESOURCE_LIMIT_EXCEEDED',
  RATE_LIMITED: 'REQUEST_LIMIT_EXCEEDED',
  UNAVAILABLE: 'TEMPORARILY_UNAVAILABLE',
  INTERNAL: 'INTERNAL_ERROR',
  NOT_IMPLEMENTED: 'NOT_IMPLEMENTED',
  // MLflow's code for an exhausted resource quota (databricks.proto RESOURCE_EXHAUSTED, HTTP 429).
  DB_STATEMENT_TIMEOUT: 'RESOURCE_EXHAUSTED',
  DB_CONCURRENCY_LIMITED: 'RESOURCE_EXHAUSTED',
  DB_TIME_LIMITED: 'RESOURCE_EXHAUSTED',
  IMAGE_REFUSED: 'INVALID_PARAMETER_VALUE',
};

/**
 * How an error reads to an MLflow client (routes with `errorFormat: 'mlflow'`; docs/tracking.md,
 * "Errors"). Raised in MLflow's vocabulary (the tracking services): its MLflow code with MLflow's status
 * (RESOURCE_ALREADY_EXISTS 400, as MLflow). A conflict raised by the platform: RESOURCE_ALREADY_EXISTS 400
 * too. A quota refusal: RESOURCE_LIMIT_EXCEEDED with 400, because the Python client retries 5xx for
 * minutes. Anything else: our code's MLflow name with our status.
 */
export const mlflowRendering = (error: AppError): { status: number; errorCode: string } => {
  if (isMlflowError(error)) return { status: error.httpStatus, errorCode: error.errorCode };
  if (error.code === 'QUOTA_EXCEEDED') return { status: 400, errorCode: 'RESOURCE_LIMIT_EXCEEDED' };
  // A conflict is RESOURCE_ALREADY_EXISTS on this API, with MLflow's status for it, wherever it was raised.
  if (error.code === 'CONFLICT') return { status: 400, errorCode: 'RESOURCE_ALREADY_EXISTS' };
  return { status: errorCodes[error.code].status, errorCode: mlflowCodes[error.code] };
};

export const sendError = (reply: FastifyReply, request: FastifyRequest, error: AppError): FastifyReply => {
  // A refusal that knows when to come back (the database-time quota) says so, in every format.
  const retryAfter = error.details?.['retryAfterSeconds'];
  if (typeof retryAfter === 'number' && errorCodes[error.code].retryable) reply.header('retry-after', String(retryAfter));
  if (request.routeOptions.config?.errorFormat === 'mlflow') {
    const { status, errorCode } = mlflowRendering(error);
    return reply.code(status).type('application/json').send({ error_code: errorCode, message: error.message });
  }
  const body: ErrorBody = { code: error.code, message: error.message, requestId: String(request.id) };
  if (error.details !== undefined) body.details = error.details;
  // OIP v2 routes: the platform's shape (docs/serving.md) plus OIP's own `error` member, so OIP clients
  // that print `error` and scripts that read `code` both work. Errors a model replica answers pass through.
  if (request.routeOptions.config?.errorFormat === 'oip') {
    return reply.code(errorCodes[error.code].status).type('application/json').send({ ...body, error: error.message });
  }
  return reply.code(errorCodes[error.code].status).type('application/json').send(body);
};

const fastifyCodeMap: Record<string, (error: FastifyError) => AppError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => new AppError('BAD_REQUEST', 'request body is not valid JSON'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new AppError('BAD_REQUEST', 'request body is empty but the content type is JSON'),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new AppError('PAYLOAD_TOO_LARGE', 'request body is larger than the limit'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new AppError('UNSUPPORTED_MEDIA_TYPE', 'unsupported content type; send application/json'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new AppError('BAD_REQUEST', 'content length does not match the body'),
  // The router's refusals (Fastify's frameworkErrors), before any route is chosen: the platform's shape.
  FST_ERR_BAD_URL: () => new AppError('BAD_REQUEST', 'URL: the path is not valid percent-encoded UTF-8'),
  FST_ERR_MAX_PARAM_LENGTH: () => new AppError('VALIDATION_FAILED', 'URL: a path parameter is longer than 200 characters'),
};

/** Turns anything thrown into the one error shape. Unexpected errors are logged with their stack and answered INTERNAL. */
export const toAppError = (error: unknown, request: FastifyRequest): AppError => {
  if (isAppError(error)) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation.map((issue) => ({
      path: `${error.validationContext ?? 'body'}${issue.instancePath.replaceAll('/', '.')}`,
      message: issue.message ?? 'invalid',
    }));
    return new AppError('VALIDATION_FAILED', `invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { details: { issues } });
  }
  const fastifyError = error as FastifyError;
  const mapped = fastifyError.code === undefined ? undefined : fastifyCodeMap[fastifyError.code];
  if (mapped !== undefined) return mapped(fastifyError);
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new AppError('BAD_REQUEST', 'bad request');
  }
  request.log.error({ err: error }, 'unexpected error');
  return new AppError('INTERNAL', 'internal error; quote the request id when reporting it');
};

/** For Fastify's `frameworkErrors` option: a URL the router refuses gets the one error shape too. */
export const handleFrameworkError = (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
  void sendError(reply, request, toAppError(error, request));
};

export const registerErrorHandling = (app: FastifyInstance): void => {
  app.setErrorHandler((error, request, reply) => sendError(reply, request, toAppError(error, request)));
  app.setNotFoundHandler((request, reply) => sendError(reply, request, new AppError('NOT_FOUND', 'no such route')));
};
