/**
 * What a token narrowed to named experiments, registered models and deployments may reach, decided from
 * the request alone (pure): the experiment, run, model or deployment a request addresses, which the auth
 * hook then checks against the token's sets (a run by its experiment). A narrowed token reaches the union
 * of its sets. Anything it cannot be shown to stay inside — creating, listing or searching across the
 * tenant, jobs, datasets, artifacts outside an experiment — is `deny`, answered NOT_FOUND like another
 * tenant's resource.
 */
export type ResourceScopeNeed =
  | { kind: 'allow' }
  | { kind: 'deny' }
  | { kind: 'experiments'; ids: string[] }
  | { kind: 'experiment_name'; name: string }
  | { kind: 'run'; id: string }
  /** Every one of these registered models (and, when given, these deployments) must be in the token's sets. */
  | { kind: 'models'; names: string[]; deployments?: string[] }
  | { kind: 'deployments'; names: string[] };

const runBodyRoutes = new Set(['runs/log-batch', 'runs/log-metric', 'runs/log-parameter', 'runs/set-tag', 'runs/delete-tag', 'runs/update', 'runs/log-inputs', 'runs/delete', 'runs/restore']);
const runQueryRoutes = new Set(['runs/get', 'metrics/get-history']);
const experimentIdRoutes = new Set(['experiments/get', 'experiments/update', 'experiments/delete', 'experiments/restore', 'experiments/set-experiment-tag', 'experiments/delete-experiment-tag', 'runs/create']);

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined);

export const resourceScopeNeed = (method: string, rawUrl: string, body: unknown): ResourceScopeNeed => {
  // Before URL parsing, which would resolve `..` (also percent-encoded) and so change what is checked.
  const rawPath = rawUrl.split('?', 1)[0] ?? '';
  try {
    if (decodeURIComponent(rawPath).includes('..')) return { kind: 'deny' };
  } catch {
    return { kind: 'deny' };
  }
  const url = new URL(rawUrl, 'http://scope');
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return { kind: 'deny' };
  }
  if (path.includes('..')) return { kind: 'deny' };
  if (method === 'GET' && (path === '/api/v1/me' || path === '/api/v1/permissions')) return { kind: 'allow' };
  const input: Record<string, unknown> = method === 'GET' || method === 'HEAD'
    ? Object.fromEntries(url.searchParams)
    : body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const mlflow = /^\/(?:api|ajax-api)\/2\.0\/mlflow\/(.+)$/.exec(path)?.[1];
  if (mlflow !== undefined) {
    if (experimentIdRoutes.has(mlflow)) {
      const id = text(input['experiment_id']);
      return id === undefined ? { kind: 'deny' } : { kind: 'experiments', ids: [id] };
    }
    if (mlflow === 'experiments/get-by-name') {
      const name = text(input['experiment_name']);
      return name === undefined ? { kind: 'deny' } : { kind: 'experiment_name', name };
    }
    if (mlflow === 'runs/search') {
      const ids = Array.isArray(input['experiment_ids']) ? input['experiment_ids'].map(text) : method === 'GET' ? url.searchParams.getAll('experiment_ids') : [];
      return ids.length === 0 || ids.some((id) => id === undefined) ? { kind: 'deny' } : { kind: 'experiments', ids: ids as string[] };
    }
    if (runBodyRoutes.has(mlflow) || runQueryRoutes.has(mlflow)) {
      const id = text(input['run_id']) ?? text(input['run_uuid']);
      return id === undefined ? { kind: 'deny' } : { kind: 'run', id };
    }
    // The registry names its model in `name` (a rename also in `new_name`: both must be in the scope, or
    // a narrowed token could move a model out of, or into, its reach). Searches span the tenant: denied.
    if ((mlflow.startsWith('registered-models/') || mlflow.startsWith('model-versions/')) && !mlflow.endsWith('/search')) {
      const name = text(input['name']);
      if (name === undefined) return { kind: 'deny' };
      if (mlflow === 'registered-models/rename') {
        const to = text(input['new_name']);
        return to === undefined ? { kind: 'deny' } : { kind: 'models', names: [name, to] };
      }
      return { kind: 'models', names: [name] };
    }
    return { kind: 'deny' };
  }
  // The platform API's model lineage and deployments, by name in the path.
  const lineage = /^\/api\/v1\/tenants\/[^/]+\/models\/([^/]+)\/versions\/[^/]+\/lineage$/.exec(path);
  if (lineage?.[1] !== undefined) return { kind: 'models', names: [lineage[1]] };
  const deployment = /^\/api\/v1\/tenants\/[^/]+\/deployments(?:\/([^/]+)(?:\/(?:logs|stats))?)?$/.exec(path);
  if (deployment !== null) {
    if (deployment[1] !== undefined) return { kind: 'deployments', names: [deployment[1]] };
    // Creating one: its name and the model it serves must both be in the scope. Listing: denied.
    if (method !== 'POST') return { kind: 'deny' };
    const name = text(input['name']);
    const model = text(input['model']);
    return name === undefined || model === undefined ? { kind: 'deny' } : { kind: 'models', names: [model], deployments: [name] };
  }
  // Open Inference Protocol: the model name is the tenant's deployment of that name. Liveness says nothing
  // about any resource; readiness is one boolean for the tenant (what OIP clients poll before calling).
  if (method === 'GET' && (path === '/v2/health/live' || path === '/v2/health/ready')) return { kind: 'allow' };
  const oip = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?(?:\/ready|\/infer)?$/.exec(path);
  if (oip?.[1] !== undefined) return { kind: 'deployments', names: [oip[1]] };
  // mlflow-artifacts: the path's first segment is the experiment id (`<experiment>/<run>/artifacts/...`).
  const artifacts = /^\/(?:api|ajax-api)\/2\.0\/mlflow-artifacts\/artifacts(?:\/(.*))?$/.exec(path);
  if (artifacts !== null) {
    const target = artifacts[1] ?? url.searchParams.get('path') ?? '';
    const experiment = /^(\d+)(?:\/|$)/.exec(target)?.[1];
    return experiment === undefined ? { kind: 'deny' } : { kind: 'experiments', ids: [experiment] };
  }
  return { kind: 'deny' };
};
