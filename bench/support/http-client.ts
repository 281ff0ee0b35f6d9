/**
 * The benchmarks' JSON client for a platform listening on loopback: keep-alive sockets, Bearer token, the
 * response read whole. `must` throws on any status ≥ 300 with the start of the body.
 */
import http from 'node:http';

export interface BenchClient {
  request(method: string, path: string, body?: string): Promise<{ status: number; body: string }>;
  close(): void;
}

export const createBenchClient = (baseUrl: string, token: string, sockets = 4): BenchClient => {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  return {
    request: (method, path, body) =>
      new Promise((resolve, reject) => {
        const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, accept: 'application/json' };
        if (body !== undefined) {
          headers['content-type'] = 'application/json';
          headers['content-length'] = Buffer.byteLength(body);
        }
        const req = http.request({ host: url.hostname, port: url.port, method, path, agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
};

export const must = async (client: BenchClient, method: string, path: string, body?: unknown): Promise<any> => {
  const response = await client.request(method, path, body === undefined ? undefined : JSON.stringify(body));
  if (response.status >= 300) throw new Error(`${method} ${path} → ${response.status} ${response.body.slice(0, 300)}`);
  return response.body === '' ? undefined : JSON.parse(response.body);
};

export interface BenchTenant {
  id: string;
  token: string;
  experimentId: string;
  /** The ids of the experiments named after the first, in order. */
  moreExperimentIds: string[];
}

/**
 * As the platform admin: a sandbox-tier tenant `slug` with no practical request-rate limit and a member
 * token; as that member: an MLflow experiment named `experiment`, then one per name of `more`.
 */
export const createBenchTenant = async (baseUrl: string, adminToken: string, slug: string, experiment: string, more: readonly string[] = []): Promise<BenchTenant> => {
  const admin = createBenchClient(baseUrl, adminToken);
  const tenant = await must(admin, 'POST', '/api/v1/tenants', { slug, name: slug, tier: 'sandbox' });
  await must(admin, 'PUT', `/api/v1/tenants/${slug}/quota`, { requestsPerSecond: 1_000_000 });
  const { token } = await must(admin, 'POST', `/api/v1/tenants/${slug}/tokens`, { name: 'bench', role: 'member' });
  admin.close();
  const client = createBenchClient(baseUrl, token);
  const { experiment_id: experimentId } = await must(client, 'POST', '/api/2.0/mlflow/experiments/create', { name: experiment });
  const moreExperimentIds: string[] = [];
  for (const name of more) moreExperimentIds.push((await must(client, 'POST', '/api/2.0/mlflow/experiments/create', { name })).experiment_id);
  client.close();
  return { id: tenant.id, token, experimentId, moreExperimentIds };
};
