import { AppError, isErrorCode } from '../core/errors.ts';

/** A thin HTTP client for the Bulkhead API: JSON in, JSON out, the API's error shape turned into AppError. */
export interface ApiClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export const createApiClient = (options: { url: string; token: string | undefined }): ApiClient => ({
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(new URL(path, options.url), { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw new AppError('UNAVAILABLE', `cannot reach the Bulkhead API at ${options.url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const err = parsed as { code?: unknown; message?: unknown; requestId?: unknown } | undefined;
      const code = isErrorCode(err?.code) ? err.code : 'INTERNAL';
      const message = typeof err?.message === 'string' ? err.message : `HTTP ${response.status}`;
      throw new AppError(code, `${message}${typeof err?.requestId === 'string' ? ` (request ${err.requestId})` : ''}`);
    }
    return parsed as T;
  },
});
