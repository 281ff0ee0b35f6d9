/**
 * The console's only way to the server: the public API, with the session cookie (sent by the browser,
 * never readable here) and the session's CSRF token on every state-changing request. No token is ever
 * stored in localStorage, sessionStorage or a URL.
 */
export interface Session {
  signedIn: true;
  csrf: string;
  kind: 'tenant' | 'platform_admin';
  actor: string;
  role: string;
  tenant?: { id: string; slug: string; name: string; status: string };
  expiresAt?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  constructor(status: number, code: string, message: string, requestId: string | undefined) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

let csrf: string | undefined;
/** The tenant slug of the page: MLflow-format calls name it as their workspace, so the server refuses any other tenant. */
let workspace: string | undefined;
const listeners = new Set<(error: ApiError) => void>();

export const setCsrf = (value: string | undefined): void => {
  csrf = value;
};
export const setWorkspace = (slug: string | undefined): void => {
  workspace = slug;
};
/** Called when a request finds the session gone (401): the app shows the signed-out page. */
export const onUnauthenticated = (listener: (error: ApiError) => void): void => {
  listeners.add(listener);
};

export const request = async (method: string, path: string, body?: unknown, options: { raw?: boolean } = {}): Promise<any> => {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf !== undefined) headers['x-csrf-token'] = csrf;
  if (workspace !== undefined && (path.startsWith('/api/2.0/mlflow') || path.startsWith('/v2/'))) headers['x-mlflow-workspace'] = workspace;
  const response = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (!response.ok) {
    let code = `HTTP_${response.status}`;
    let message = response.statusText;
    let requestId = response.headers.get('x-request-id') ?? undefined;
    try {
      const parsed = await response.json();
      code = parsed.code ?? parsed.error_code ?? code;
      message = parsed.message ?? parsed.error ?? message;
      requestId = parsed.requestId ?? requestId;
    } catch {
      // not JSON: the status line says it
    }
    const error = new ApiError(response.status, code, String(message), requestId);
    if (response.status === 401 && !path.startsWith('/ui/api/session')) for (const listener of listeners) listener(error);
    throw error;
  }
  if (options.raw === true) return response;
  if (response.status === 204) return undefined;
  const text = await response.text();
  return text === '' ? {} : JSON.parse(text);
};

export const mlflow = (method: 'GET' | 'POST', endpoint: string, input: Record<string, unknown> = {}): Promise<any> => {
  if (method === 'POST') return request('POST', `/api/2.0/mlflow/${endpoint}`, input);
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(input)) if (value !== undefined) query.set(key, String(value));
  return request('GET', `/api/2.0/mlflow/${endpoint}?${query}`);
};

export const tenantApi = (tenant: string, path: string): string => `/api/v1/tenants/${encodeURIComponent(tenant)}${path}`;

export type SessionState = Session | { signedIn: false; reason: string; message: string };
