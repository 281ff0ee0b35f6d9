/**
 * HTTP/1.1 to a model worker, with kept-alive connections: over its Unix socket (local replicas) or to a
 * base URL (a cluster endpoint's Service). The gateway's only way to a model.
 */
import { Agent, request } from 'node:http';
import type { RequestOptions } from 'node:http';

export interface WorkerResponse {
  status: number;
  body: Buffer;
}

export interface WorkerClient {
  call(method: 'GET' | 'POST', path: string, body?: Buffer, timeoutMs?: number): Promise<WorkerResponse>;
  close(): void;
}

const createClient = (target: Pick<RequestOptions, 'socketPath' | 'host' | 'port'>, maxSockets: number): WorkerClient => {
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    call(method, path, body, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const headers: Record<string, string | number> = {};
        if (body !== undefined) {
          headers['content-type'] = 'application/json';
          headers['content-length'] = body.length;
        }
        const req = request({ ...target, agent, method, path, headers, timeout: timeoutMs }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error('worker timed out')));
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
};

export const createWorkerClient = (socketPath: string, maxSockets: number): WorkerClient => createClient({ socketPath }, maxSockets);

/**
 * A worker reached over TCP at `baseUrl` (`http://host:port`, plain HTTP: inside the cluster network, where
 * the tenant's NetworkPolicies admit only the gateway). Paths are appended to the URL's host and port.
 */
export const createHttpWorkerClient = (baseUrl: string, maxSockets: number): WorkerClient => {
  const url = new URL(baseUrl);
  if (url.protocol !== 'http:') throw new Error(`worker URL must be http://, got ${url.protocol}`);
  return createClient({ host: url.hostname, port: url.port === '' ? 80 : Number(url.port) }, maxSockets);
};
