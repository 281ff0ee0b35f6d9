/**
 * `bulkhead verify`: attacks a live deployment the way a hostile tenant would and reports what held.
 * Set-up: a platform-admin token; leftovers of a crashed run (`verify-<8 hex>-…`) are deleted first;
 * two tenants A and B (and one per compute tier) are created, A is seeded; the groups run; every tenant
 * this run created is deleted (crypto-shredded) at the end unless `keep`. It never addresses a tenant
 * it did not create. Bounded: requests go at most 6 at a time, probes have a time limit.
 */
import { AppError } from '../core/errors.ts';
import { runApiChecks } from './api-checks.ts';
import { runAuditChecks } from './audit-checks.ts';
import { runComputeChecks } from './compute-checks.ts';
import type { ProbeJob } from './compute-checks.ts';
import { runDataChecks } from './data-checks.ts';
import { runKubernetesChecks } from './kubernetes-checks.ts';
import { runServingChecks } from './serving-checks.ts';
import { runTierBench } from './tier-bench.ts';
import { createVerifyHttp } from './verify-http.ts';
import { summarize } from './verify-report.ts';
import { createVerifyTenant, deleteVerifyTenant, findLeftoverTenants, newRunId, seedTenantA } from './verify-tenants.ts';
import type { VerifyTenant } from './verify-tenants.ts';
import type { CheckResult, TierBenchRow, VerifyOptions, VerifyReport } from './verify-types.ts';

export interface VerifyRun {
  /** Runs every group; resolves to the report (cleanup done unless `keep`). */
  result: Promise<VerifyReport>;
  /** Deletes what this run created so far (for an interrupt); idempotent. */
  cleanup(): Promise<void>;
}

export const startVerify = (options: VerifyOptions): VerifyRun => {
  const http = createVerifyHttp(options.url);
  const runId = newRunId();
  const created: string[] = [];
  let adminToken = options.token;
  let verifierTokenId: string | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaned ??= (async () => {
      if (options.keep) {
        options.log(`kept tenants: ${created.join(', ')}`);
        created.splice(0);
      }
      for (const slug of created.splice(0)) {
        try {
          await deleteVerifyTenant(http, adminToken, slug);
          options.log(`deleted ${slug}`);
        } catch (error) {
          options.log(`could not delete ${slug} (a later run removes it): ${(error as Error).message}`);
        }
      }
      if (verifierTokenId !== undefined) await http.call({ method: 'DELETE', path: `/api/v1/platform/tokens/${verifierTokenId}`, token: options.token });
    })();
    return cleaned;
  };

  const run = async (): Promise<VerifyReport> => {
    const started = Date.now();
    const checks: CheckResult[] = [];
    const probeJobs: ProbeJob[] = [];
    let tierBench: TierBenchRow[] | undefined;
    const wants = (group: string) => options.groups.includes(group as never);
    const me = await http.call({ method: 'GET', path: '/api/v1/me', token: options.token });
    if (me.status !== 200 || (me.body as { kind?: string } | undefined)?.kind !== 'platform_admin') {
      throw new AppError('FORBIDDEN', `bulkhead verify needs a platform-admin token for ${options.url} (GET /api/v1/me answered ${me.status}${me.status === 200 ? ', not a platform admin' : ''})`);
    }
    // The verifier acts under a platform token of its own (named verify-<run>, 1 h expiry, revoked at the
    // end): its actions are audited as the verifier's, apart from the operator's other work.
    const own = await http.call({ method: 'POST', path: '/api/v1/platform/tokens', token: options.token, body: { name: `verify-${runId}`, expiresInSeconds: 3600 } });
    if (own.status !== 201) throw new AppError('FORBIDDEN', `cannot create the verifier's platform token: ${own.status} ${own.text.slice(0, 200)}`);
    const ownToken = own.body as { id: string; token: string };
    adminToken = ownToken.token;
    verifierTokenId = ownToken.id;
    for (const slug of await findLeftoverTenants(http, adminToken)) {
      options.log(`removing leftover tenant ${slug} of an interrupted run`);
      await deleteVerifyTenant(http, adminToken, slug);
    }
    const tenant = async (suffix: string, tier: string): Promise<VerifyTenant> => {
      const slug = `verify-${runId}-${suffix}`;
      created.push(slug);
      return createVerifyTenant(http, adminToken, slug, tier);
    };
    try {
      const a = await tenant('a', 'sandbox');
      const b = await tenant('b', 'sandbox');
      const seed = await seedTenantA(http, a);
      options.log(`tenants ${a.slug} and ${b.slug} ready`);
      if (wants('compute')) {
        options.log(`compute: tiers ${options.tiers.join(', ')}`);
        const compute = await runComputeChecks({
          http, url: options.url, tiers: options.tiers, otherTenantPath: `/api/v1/tenants/${a.slug}`, timeoutSeconds: options.probeTimeoutSeconds, log: options.log,
          platformHome: options.platformHome, databaseHostPort: options.databaseUrl === undefined ? undefined : (() => { const u = new URL(options.databaseUrl); return `${u.hostname}:${u.port || '5432'}`; })(),
          tenantFor: (tier) => tenant(`c-${tier}`, tier),
        });
        checks.push(...compute.results);
        probeJobs.push(...compute.probeJobs);
      }
      if (options.kubernetes === true) {
        options.log('compute: --kubernetes namespace checks over the rendered bundles');
        checks.push(...await runKubernetesChecks({ http, url: options.url, adminToken, tenants: [a, b] }));
      }
      if (wants('api')) {
        options.log('api: enumerating routes');
        checks.push(...await runApiChecks({ http, adminToken, a, b, seed }));
      }
      if (wants('data')) {
        options.log('data');
        checks.push(...await runDataChecks({
          http, adminToken, databaseUrl: options.databaseUrl, storagePath: options.storagePath, tenantAId: a.id, secret: seed.secret,
          deletedTenant: async () => {
            const doomed = await tenant('d', 'sandbox');
            await http.call({ method: 'PUT', path: '/api/2.0/mlflow-artifacts/artifacts/verify/doomed.txt', token: doomed.tokens.owner, raw: 'doomed' });
            await deleteVerifyTenant(http, adminToken, doomed.slug);
            created.splice(created.indexOf(doomed.slug), 1);
            return { id: doomed.id, slug: doomed.slug };
          },
        }));
      }
      if (wants('serving')) {
        options.log('serving');
        checks.push(...await runServingChecks({ http, a, b, readyTimeoutMs: options.probeTimeoutSeconds * 1000, log: options.log }));
      }
      if (wants('audit')) {
        options.log('audit');
        const attackIds = new Set<string>();
        for (const token of Object.values(b.tokens)) for (const id of http.requestIdsOf(token)) attackIds.add(id);
        checks.push(...await runAuditChecks({ http, adminToken, a, b, attackRequestIds: attackIds, adminRequestIds: http.requestIdsOf(adminToken), verifierActor: `token:${verifierTokenId}`, probeJobs }));
      }
      if (wants('tiers') && options.bench === true) {
        options.log(`tiers: trade-off table, process + ${options.tiers.join(', ')}`);
        const bench = await runTierBench({ http, tiers: options.tiers, rounds: options.benchRounds ?? 3, timeoutSeconds: options.probeTimeoutSeconds, log: options.log, tenantFor: (tier) => tenant(`t-${tier}`, tier) });
        checks.push(...bench.results);
        tierBench = bench.table;
      } else if (wants('tiers')) {
        checks.push({ group: 'tiers', check: 'tier trade-off table', target: 'host', expectation: 'measured', result: 'skip', evidence: 'pass --bench to measure it (a few jobs per tier)' });
      }
    } finally {
      await cleanup();
    }
    const summary = summarize(checks);
    return { schema: 'bulkhead.verify/v1', url: options.url, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, groups: [...options.groups], summary, checks, ...(tierBench === undefined ? {} : { tierBench }) };
  };
  return { result: run(), cleanup };
};
