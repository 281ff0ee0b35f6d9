/**
 * HTTP/1.1 over a worker's Unix socket, with kept-alive connections. The gateway's only way to a model.
 */
import { Agent, request } from 'node:http';

export interface WorkerResponse {
  status: number;
  body: Buffer;
}

export interface WorkerClient {
  call(method: 'GET' | 'POST', path: string, body?: Buffer, timeoutMs?: number): Promise<WorkerResponse>;
  close(): void;
}

export const createWorkerClient = (socketPath: string, maxSockets: number): WorkerClient => {
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    call(method, path, body, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const headers: Record<string, string | number> = {};
        if (body !== undefined) {
          headers['content-type'] = 'application/json';
          headers['content-length'] = body.length;
        }
        const req = request({ socketPath, agent, method, path, headers, timeout: timeoutMs }, (res) => {
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
