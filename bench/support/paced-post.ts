/**
 * Load generation for the noisy-neighbour benchmarks: one POST answered by its status code (0 for a
 * transport error or a 30 s timeout), and paced clients that keep an offered rate steady.
 */
import http from 'node:http';

/** Where a request goes: a TCP port on loopback or a Unix socket. */
export type PostTarget = { port: number } | { socketPath: string };

export const postStatus = (target: PostTarget, agent: http.Agent, path: string, token: string | undefined, body: Buffer): Promise<number> =>
  new Promise((resolve) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length };
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    const where = 'port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath };
    const req = http.request({ ...where, agent, method: 'POST', path, headers, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });

/** The noisy-neighbour flood's agent: a pool of `sockets` keep-alive connections, or (0) a fresh connection per request, unlimited. */
export const floodAgentFor = (sockets: number): http.Agent =>
  (sockets > 0 ? new http.Agent({ keepAlive: true, maxSockets: sockets }) : new http.Agent({ keepAlive: false }));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface PacedResult { latencies: number[]; errors: number; total: number }

/**
 * `clients` paced clients offering `rps` requests/s between them for `ms`, staggered, each waiting for its
 * answer; a 200's latency is kept (sorted in the result), anything else counts as an error. A client never
 * catches up with a burst after a slow answer: the offered rate stays steady.
 */
export const runPaced = async (clients: number, rps: number, ms: number, send: () => Promise<number>): Promise<PacedResult> => {
  const latencies: number[] = [];
  let errors = 0;
  const interval = (1000 * clients) / rps;
  const end = performance.now() + ms;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    let next = performance.now() + (interval * c) / clients;
    while (next < end) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      const t0 = performance.now();
      const status = await send();
      const dt = performance.now() - t0;
      if (status === 200) latencies.push(dt);
      else errors += 1;
      next += interval;
      if (next < performance.now()) next = performance.now();
    }
  }));
  latencies.sort((a, b) => a - b);
  return { latencies, errors, total: latencies.length + errors };
};
