/**
 * The verifier's own tenants: two short-lived tenants named `verify-<run>-a/b`, a token per role in each,
 * and the seed data of tenant A that tenant B attacks. Cleanup deletes them with crypto-shredding; a
 * later run removes the `verify-` leftovers of a crashed one. Nothing here touches another tenant.
 */
import { randomBytes } from 'node:crypto';
import { tenantRoles } from '../contract/roles.ts';
import type { VerifyHttp } from './verify-http.ts';

export const verifyTenantPrefix = 'verify-';
const leftoverPattern = /^verify-[0-9a-f]{8}-[a-z0-9-]{1,40}$/;

export type Role = (typeof tenantRoles)[number];

export interface VerifyTenant {
  id: string;
  slug: string;
  tokens: Record<Role, string>;
  tokenIds: Record<Role, string>;
}

export interface SeedA {
  /** A value only tenant A's data holds: any answer to B that contains it is a leak. */
  secret: string;
  experimentId: string;
  experimentName: string;
  runId: string;
  modelName: string;
  loggedModelId: string | undefined;
  artifactPath: string;
  datasetName: string | undefined;
  /** A short job of A (its id is what job routes are attacked with). */
  jobId: string | undefined;
}

const must = async (http: VerifyHttp, method: string, path: string, token: string, body?: unknown): Promise<any> => {
  const answer = await http.call({ method, path, token, body });
  if (answer.status >= 300) throw new Error(`verify set-up: ${method} ${path} answered ${answer.status} ${answer.text.slice(0, 300)}`);
  return answer.body;
};

export const newRunId = (): string => randomBytes(4).toString('hex');

/** Creates a tenant (tier given) and a token of every role; raises its request rate so probes are not throttled. */
export const createVerifyTenant = async (http: VerifyHttp, adminToken: string, slug: string, tier: string): Promise<VerifyTenant> => {
  const created = await must(http, 'POST', '/api/v1/tenants', adminToken, { slug, name: `bulkhead verify ${slug}`, tier });
  await must(http, 'PUT', `/api/v1/tenants/${slug}/quota`, adminToken, { requestsPerSecond: 100_000 });
  const tokens = {} as Record<Role, string>;
  const tokenIds = {} as Record<Role, string>;
  for (const role of tenantRoles) {
    const token = await must(http, 'POST', `/api/v1/tenants/${slug}/tokens`, adminToken, { name: `verify-${role}`, role, expiresInSeconds: 3600 });
    tokens[role] = token.token;
    tokenIds[role] = token.id;
  }
  return { id: created.id, slug, tokens, tokenIds };
};

/** Tenant A's data: an experiment and run with a secret tag and param, a registered model, an artifact. */
export const seedTenantA = async (http: VerifyHttp, a: VerifyTenant): Promise<SeedA> => {
  const secret = `verify-secret-${randomBytes(12).toString('hex')}`;
  const token = a.tokens.owner;
  const experimentName = `verify-exp-${randomBytes(4).toString('hex')}`;
  const experiment = await must(http, 'POST', '/api/2.0/mlflow/experiments/create', token, { name: experimentName, tags: [{ key: 'verify', value: secret }] });
  const run = await must(http, 'POST', '/api/2.0/mlflow/runs/create', token, { experiment_id: experiment.experiment_id, run_name: 'verify-run', tags: [{ key: 'verify', value: secret }] });
  const runId: string = run.run.info.run_id;
  await must(http, 'POST', '/api/2.0/mlflow/runs/log-parameter', token, { run_id: runId, key: 'verify', value: secret });
  await must(http, 'POST', '/api/2.0/mlflow/runs/log-metric', token, { run_id: runId, key: 'verify', value: 1, timestamp: Date.now(), step: 0 });
  const modelName = `verify-model-${randomBytes(4).toString('hex')}`;
  await must(http, 'POST', '/api/2.0/mlflow/registered-models/create', token, { name: modelName, description: secret });
  await must(http, 'POST', '/api/2.0/mlflow/model-versions/create', token, { name: modelName, source: `runs:/${runId}/model`, run_id: runId, description: secret });
  const logged = await http.call({ method: 'POST', path: '/api/2.0/mlflow/logged-models', token, body: { experiment_id: experiment.experiment_id, name: 'verify-logged', tags: [{ key: 'verify', value: secret }] } });
  const loggedModelId = logged.status < 300 ? (logged.body as { model?: { info?: { model_id?: string } } }).model?.info?.model_id : undefined;
  const artifactPath = `verify/${randomBytes(4).toString('hex')}/secret.txt`;
  const put = await http.call({ method: 'PUT', path: `/api/2.0/mlflow-artifacts/artifacts/${artifactPath}`, token, raw: `${secret}\n`.repeat(64) });
  if (put.status >= 300) throw new Error(`verify set-up: artifact upload answered ${put.status} ${put.text.slice(0, 300)}`);
  const datasetName = `verify-ds-${randomBytes(3).toString('hex')}`;
  const dataset = await http.call({ method: 'POST', path: `/api/v1/tenants/${a.slug}/datasets`, token, body: { name: datasetName, description: secret } });
  const job = await http.call({ method: 'POST', path: `/api/v1/tenants/${a.slug}/jobs`, token, body: { name: 'verify-seed', command: ['python3', '-c', 'print(1)'], resources: { cpu: 0.1, memoryMiB: 64, timeoutSeconds: 30 } } });
  const jobId = job.status < 300 ? (job.body as { id?: string }).id : undefined;
  return { jobId, secret, experimentId: String(experiment.experiment_id), experimentName, runId, modelName, loggedModelId, artifactPath, datasetName: dataset.status < 300 ? datasetName : undefined };
};

/**
 * Deletes a verify tenant the way an operator would: suspend, then delete with confirmation (rows, blobs
 * and the tenant's data key; the audit log is kept). Returns the deletion summary, or throws.
 */
export const deleteVerifyTenant = async (http: VerifyHttp, adminToken: string, slug: string): Promise<unknown> => {
  if (!slug.startsWith(verifyTenantPrefix)) throw new Error(`refusing to delete '${slug}': not a verify tenant`);
  await http.call({ method: 'PATCH', path: `/api/v1/tenants/${slug}`, token: adminToken, body: { status: 'suspended' } });
  return must(http, 'DELETE', `/api/v1/tenants/${slug}?confirm=${encodeURIComponent(slug)}`, adminToken);
};

/** Leftovers of an interrupted run: tenants whose slug is exactly `verify-<8 hex>-<suffix>`. */
export const findLeftoverTenants = async (http: VerifyHttp, adminToken: string): Promise<string[]> => {
  const listed = await must(http, 'GET', '/api/v1/tenants', adminToken);
  const tenants = (listed as { tenants?: Array<{ slug: string }> }).tenants ?? [];
  return tenants.map((t) => t.slug).filter((slug) => leftoverPattern.test(slug));
};
