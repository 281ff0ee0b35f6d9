/**
 * What a token narrowed to experiments may reach, decided from the request alone (pure): the experiment or
 * run a request addresses, which the auth hook then checks against the token's experiments (a run by its
 * experiment). Anything a narrowed token cannot be shown to stay inside — creating or searching
 * experiments across the tenant, the model registry, jobs, deployments, datasets — is `deny`, answered
 * NOT_FOUND like another tenant's resource.
 */
export type ExperimentScopeNeed =
  | { kind: 'allow' }
  | { kind: 'deny' }
  | { kind: 'experiments'; ids: string[] }
  | { kind: 'experiment_name'; name: string }
  | { kind: 'run'; id: string };

const runBodyRoutes = new Set(['runs/log-batch', 'runs/log-metric', 'runs/log-parameter', 'runs/set-tag', 'runs/delete-tag', 'runs/update', 'runs/log-inputs', 'runs/delete', 'runs/restore']);
const runQueryRoutes = new Set(['runs/get', 'metrics/get-history']);
const experimentIdRoutes = new Set(['experiments/get', 'experiments/update', 'experiments/delete', 'experiments/restore', 'experiments/set-experiment-tag', 'experiments/delete-experiment-tag', 'runs/create']);

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined);

export const experimentScopeNeed = (method: string, rawUrl: string, body: unknown): ExperimentScopeNeed => {
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
    return { kind: 'deny' };
  }
  // mlflow-artifacts: the path's first segment is the experiment id (`<experiment>/<run>/artifacts/...`).
  const artifacts = /^\/(?:api|ajax-api)\/2\.0\/mlflow-artifacts\/artifacts(?:\/(.*))?$/.exec(path);
  if (artifacts !== null) {
    const target = artifacts[1] ?? url.searchParams.get('path') ?? '';
    const experiment = /^(\d+)(?:\/|$)/.exec(target)?.[1];
    return experiment === undefined ? { kind: 'deny' } : { kind: 'experiments', ids: [experiment] };
  }
  return { kind: 'deny' };
};
