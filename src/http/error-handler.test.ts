/** The one error boundary: MLflow's codes are a rendering of AppErrors chosen here, never a second error type. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, errorCodes, isAppError } from '../core/errors.ts';
import type { ErrorCode } from '../core/errors.ts';
import { MlflowError, mlflowErrorCodes, mlflowErrors } from '../tracking/index.ts';
import type { MlflowErrorCode } from '../tracking/index.ts';
import { mlflowRendering } from './error-handler.ts';

test('an error raised in MLflow\'s vocabulary is an AppError with the platform code of the same meaning', () => {
  const expected: Record<MlflowErrorCode, ErrorCode> = {
    INVALID_PARAMETER_VALUE: 'VALIDATION_FAILED', BAD_REQUEST: 'BAD_REQUEST', RESOURCE_ALREADY_EXISTS: 'CONFLICT', UNAUTHENTICATED: 'UNAUTHENTICATED',
    PERMISSION_DENIED: 'FORBIDDEN', RESOURCE_DOES_NOT_EXIST: 'NOT_FOUND', INTERNAL_ERROR: 'INTERNAL', INVALID_STATE: 'CONFLICT',
    RESOURCE_LIMIT_EXCEEDED: 'QUOTA_EXCEEDED', NOT_IMPLEMENTED: 'NOT_IMPLEMENTED',
  };
  for (const code of Object.keys(mlflowErrorCodes) as MlflowErrorCode[]) {
    const error = new MlflowError(code, 'm');
    assert.ok(isAppError(error), code);
    assert.equal(error.code, expected[code], code);
    // The MLflow API answers MLflow's code and status for it, unchanged for MLflow clients.
    assert.deepEqual(mlflowRendering(error), { status: mlflowErrorCodes[code].httpStatus, errorCode: code });
  }
  const taken = mlflowErrors.alreadyExists("experiment 'x' already exists");
  assert.equal(taken.status, 409, 'the platform API answers a conflict with 409');
  assert.equal(mlflowRendering(taken).status, 400, 'the MLflow API with 400, as MLflow');
});

test('platform errors on MLflow routes: conflicts and quota refusals as MLflow names them, with 400', () => {
  assert.deepEqual(mlflowRendering(new AppError('CONFLICT', 'm')), { status: 400, errorCode: 'RESOURCE_ALREADY_EXISTS' });
  assert.deepEqual(mlflowRendering(new AppError('QUOTA_EXCEEDED', 'm')), { status: 400, errorCode: 'RESOURCE_LIMIT_EXCEEDED' });
  assert.deepEqual(mlflowRendering(new AppError('NOT_FOUND', 'm')), { status: 404, errorCode: 'RESOURCE_DOES_NOT_EXIST' });
  assert.deepEqual(mlflowRendering(new AppError('RATE_LIMITED', 'm')), { status: 429, errorCode: 'REQUEST_LIMIT_EXCEEDED' });
  for (const code of Object.keys(errorCodes) as ErrorCode[]) {
    const rendered = mlflowRendering(new AppError(code, 'm'));
    assert.match(rendered.errorCode, /^[A-Z_]+$/, code);
    assert.ok(rendered.status >= 400 && rendered.status < 600, code);
  }
});
