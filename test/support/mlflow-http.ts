/**
 * Requests shaped as the official MLflow Python client sends them, for tests.
 *
 * Source of the shapes: mlflow/utils/rest_utils.py (`call_endpoint`: GET sends the request message's
 * fields as query parameters, other methods as a JSON body; `Authorization: Bearer <token>` from
 * MLFLOW_TRACKING_TOKEN), mlflow/utils/proto_json_utils.py (`message_to_json`: proto field names, int64
 * as JSON numbers, unset fields omitted), and the request messages of mlflow/protos/service.proto and
 * model_registry.proto as filled in by mlflow/store/tracking/rest_store.py and
 * mlflow/store/model_registry/rest_store.py.
 */
import assert from 'node:assert/strict';
import type { TestPlatform } from './platform.ts';

export interface MlflowResponse {
  status: number;
  body: any;
}

/** Query string as `requests` encodes `params=`: repeated keys for lists, booleans as "true"/"false". */
export const queryString = (query: Record<string, unknown>): string => {
  const parts = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) parts.append(key, String(item));
  }
  const text = parts.toString();
  return text === '' ? '' : `?${text}`;
};

export interface MlflowHttp {
  get(path: string, query?: Record<string, unknown>, headers?: Record<string, string>): Promise<MlflowResponse>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<MlflowResponse>;
  patch(path: string, body: unknown): Promise<MlflowResponse>;
  delete(path: string, body: unknown): Promise<MlflowResponse>;
}

/** A client for `/api/2.0/mlflow/` (or another prefix) through app.inject, with the tenant token as bearer. */
export const mlflowHttp = (p: TestPlatform, token: string, prefix = '/api/2.0/mlflow'): MlflowHttp => {
  const send = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, query: Record<string, unknown> | undefined, body: unknown, headers: Record<string, string> = {}) => {
    const response = await p.app.inject({
      method,
      url: `${prefix}/${path}${query === undefined ? '' : queryString(query)}`,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    let parsed: unknown;
    try {
      parsed = response.body === '' ? undefined : JSON.parse(response.body);
    } catch {
      parsed = response.body;
    }
    return { status: response.statusCode, body: parsed };
  };
  return {
    get: (path, query = {}, headers) => send('GET', path, query, undefined, headers),
    post: (path, body, headers) => send('POST', path, undefined, body, headers),
    patch: (path, body) => send('PATCH', path, undefined, body),
    delete: (path, body) => send('DELETE', path, undefined, body),
  };
};

/** Asserts-free helper: the MLflow error code of a response, or undefined for a success. */
export const errorCode = (response: MlflowResponse): string | undefined =>
  response.status === 200 ? undefined : (response.body?.error_code as string | undefined) ?? `HTTP ${response.status}`;

/** Asserts a 200 and returns the body. */
export const expectOk = (r: MlflowResponse, what: string): any => {
  assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.body)}`);
  return r.body;
};

/** Asserts MLflow's 404 `RESOURCE_DOES_NOT_EXIST` — what another tenant's (or an unshared) object answers. */
export const expectNotFound = (r: MlflowResponse, what: string): void => {
  assert.equal(r.status, 404, `${what}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error_code, 'RESOURCE_DOES_NOT_EXIST', what);
};
