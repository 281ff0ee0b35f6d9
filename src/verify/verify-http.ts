/** The verifier's HTTP client: every answer comes back (never thrown), with its request id and a way to reproduce it. */
import { AppError } from '../core/errors.ts';

export interface HttpAnswer {
  status: number;
  /** Parsed JSON, else the text, else undefined. */
  body: unknown;
  text: string;
  requestId: string | undefined;
}

export interface HttpCall {
  method: string;
  path: string;
  token?: string | undefined;
  body?: unknown;
  raw?: Buffer | string | undefined;
  headers?: Record<string, string>;
}

export interface VerifyHttp {
  call(request: HttpCall): Promise<HttpAnswer>;
  /** The call as a curl line with the token elided (`$TOKEN`), for the report. */
  describe(request: HttpCall): string;
  /** The request ids of the answers to calls made with `token` (the audit group looks for them). */
  requestIdsOf(token: string): ReadonlySet<string>;
}

export const createVerifyHttp = (baseUrl: string): VerifyHttp => {
  // Keyed by the token in memory only; never printed.
  const byToken = new Map<string, Set<string>>();
  return {
    requestIdsOf: (token) => byToken.get(token) ?? new Set(),
    async call(request) {
      const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
      if (request.token !== undefined) headers['authorization'] = `Bearer ${request.token}`;
      let payload: string | Buffer | undefined;
      if (request.raw !== undefined) {
        payload = request.raw;
        headers['content-type'] ??= 'application/octet-stream';
      } else if (request.body !== undefined) {
        payload = JSON.stringify(request.body);
        headers['content-type'] = 'application/json';
      }
      // fetch resolves `..` and `%2e%2e` segments before sending: traversal checks use encoded slashes.
      let response: Response;
      try {
        response = await fetch(baseUrl.replace(/\/+$/, '') + request.path, { method: request.method, headers, ...(payload === undefined ? {} : { body: payload }), signal: AbortSignal.timeout(30_000) });
      } catch (error) {
        const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
        throw new AppError('UNAVAILABLE', `cannot reach the Bulkhead API at ${baseUrl} (${request.method} ${request.path.split('?')[0]}): ${cause}`);
      }
      const text = await response.text();
      let body: unknown = text === '' ? undefined : text;
      try {
        if (text !== '') body = JSON.parse(text);
      } catch {
        // not JSON: the text itself
      }
      const requestId = response.headers.get('x-request-id') ?? undefined;
      if (requestId !== undefined && request.token !== undefined) {
        const ids = byToken.get(request.token) ?? new Set<string>();
        ids.add(requestId);
        byToken.set(request.token, ids);
      }
      return { status: response.status, body, text, requestId };
    },
    describe(request) {
      const parts = [`curl -X ${request.method}`];
      if (request.token !== undefined) parts.push(`-H 'authorization: Bearer $TOKEN'`);
      for (const [name, value] of Object.entries(request.headers ?? {})) parts.push(`-H '${name}: ${value}'`);
      if (request.body !== undefined) parts.push(`-H 'content-type: application/json' -d '${JSON.stringify(request.body)}'`);
      parts.push(`'${baseUrl.replace(/\/+$/, '')}${request.path}'`);
      return parts.join(' ');
    },
  };
};
