/**
 * The `audit` group: every chain the run touched verifies; the denials of B's attacks were recorded in
 * B's own log (the caller's chain), none in A's; and the verifier's own administrative actions are in
 * the platform's chain under the operator's token.
 */
import type { CheckResult } from './verify-types.ts';
import type { VerifyHttp } from './verify-http.ts';
import type { VerifyTenant } from './verify-tenants.ts';

export interface AuditContext {
  http: VerifyHttp;
  adminToken: string;
  a: VerifyTenant;
  b: VerifyTenant;
  /** Request ids of the attacks tenant B's tokens made. */
  attackRequestIds: ReadonlySet<string>;
  /** Request ids of the verifier's platform-admin calls (tenant creation). */
  adminRequestIds: ReadonlySet<string>;
  /** The audit actor of the verifier's own platform token (`token:<id>`). */
  verifierActor: string;
  /** The compute group's probe jobs: their refused attempt on tenant A must be in their own tenant's chain. */
  probeJobs: ReadonlyArray<{ tenantSlug: string; jobId: string; tier: string }>;
}

interface AuditEvent { requestId: string; action: string; outcome: string; actor: string; target: string; details?: Record<string, unknown> }

const listAll = async (http: VerifyHttp, path: string, token: string): Promise<AuditEvent[]> => {
  const events: AuditEvent[] = [];
  let before: number | null = null;
  // Bounded: at most 20 pages of 1,000 (the verifier's tenants are young; the platform chain may be long).
  for (let page = 0; page < 20; page += 1) {
    const answer = await http.call({ method: 'GET', path: `${path}?limit=1000${before === null ? '' : `&before=${before}`}`, token });
    if (answer.status !== 200) break;
    const body = answer.body as { events: AuditEvent[]; nextBefore: number | null };
    events.push(...body.events);
    if (body.nextBefore === null) break;
    before = body.nextBefore;
  }
  return events;
};

export const runAuditChecks = async (ctx: AuditContext): Promise<CheckResult[]> => {
  const { http } = ctx;
  const results: CheckResult[] = [];
  for (const [label, path] of [['tenant A', `/api/v1/tenants/${ctx.a.slug}/audit/verify`], ['tenant B', `/api/v1/tenants/${ctx.b.slug}/audit/verify`], ['platform', '/api/v1/platform/audit/verify']] as const) {
    const answer = await http.call({ method: 'GET', path, token: ctx.adminToken });
    const body = answer.body as { ok?: boolean; eventsChecked?: number; problems?: unknown[] } | undefined;
    results.push({ group: 'audit', check: 'chain verifies', target: `${label} chain`, expectation: 'ok: hash chain and signed checkpoints intact', result: answer.status === 200 && body?.ok === true ? 'pass' : 'fail', evidence: answer.status === 200 ? `ok ${String(body?.ok)}, ${body?.eventsChecked ?? 0} events${body?.problems?.length ? `, problems: ${JSON.stringify(body.problems).slice(0, 200)}` : ''}` : `${answer.status} ${answer.text.slice(0, 160)}`, reproduce: http.describe({ method: 'GET', path, token: '$TOKEN' }) });
  }
  const inB = await listAll(http, `/api/v1/tenants/${ctx.b.slug}/audit`, ctx.adminToken);
  const inA = await listAll(http, `/api/v1/tenants/${ctx.a.slug}/audit`, ctx.adminToken);
  const denialsInB = inB.filter((e) => ctx.attackRequestIds.has(e.requestId) && e.outcome !== 'success');
  const attacksInA = inA.filter((e) => ctx.attackRequestIds.has(e.requestId));
  results.push({ group: 'audit', check: "attacks recorded in the attacker's log", target: 'tenant B chain', expectation: "denials of B's requests are in B's chain", result: ctx.attackRequestIds.size === 0 ? 'skip' : denialsInB.length > 0 ? 'pass' : 'fail', evidence: `${denialsInB.length} denial events of ${ctx.attackRequestIds.size} attack requests (repeated denials are summarized by the denial throttle): ${[...new Set(denialsInB.map((e) => e.action))].slice(0, 5).join(', ')}` });
  results.push({ group: 'audit', check: "attacks not recorded in the victim's log", target: 'tenant A chain', expectation: "no event of B's requests in A's chain", result: attacksInA.length === 0 ? 'pass' : 'fail', evidence: attacksInA.length === 0 ? `${inA.length} events in A's chain, none from B's requests` : `A's chain holds: ${attacksInA.slice(0, 3).map((e) => `${e.action} ${e.requestId}`).join(', ')}` });
  for (const job of ctx.probeJobs) {
    const own = await listAll(http, `/api/v1/tenants/${job.tenantSlug}/audit`, ctx.adminToken);
    const mentions = (e: AuditEvent) => e.actor === `job:${job.jobId}` || e.target.includes(job.jobId);
    const recorded = own.filter(mentions);
    const leaked = inA.filter(mentions);
    results.push({
      group: 'audit', check: "probe job recorded in its own tenant's log", target: `tier ${job.tier}`, expectation: `events of job ${job.jobId} in ${job.tenantSlug}'s chain, none in A's`,
      result: recorded.length > 0 && leaked.length === 0 ? 'pass' : 'fail',
      evidence: `${recorded.length} events in its tenant's chain (${[...new Set(recorded.map((e) => e.action))].sort().join(', ')}); ${leaked.length} in A's`,
    });
    const denials = recorded.filter((e) => e.actor === `job:${job.jobId}` && e.outcome !== 'success');
    results.push({
      group: 'audit', check: "probe job's refused API attempt audited", target: `tier ${job.tier}`, expectation: "the job token's attempt on tenant A is a denial in the job's tenant's chain",
      result: denials.length > 0 ? 'pass' : 'fail',
      evidence: denials.length > 0
        ? `${denials.length} denial events by job:${job.jobId} (${[...new Set(denials.map((e) => e.action))].sort().join(', ')})`
        : `no denial by job:${job.jobId} in ${job.tenantSlug}'s chain: the refused attempt (relay or API) was not audited`,
    });
    // The probe's connects to loopback services and outside addresses, as the executor reports them.
    const violations = recorded.filter((e) => e.action === 'sandbox.violation' && e.target === `job:${job.jobId}`);
    results.push({
      group: 'audit', check: "probe job's denied network attempts reported", target: `tier ${job.tier}`, expectation: `a sandbox.violation event for job ${job.jobId} in its tenant's chain`,
      result: violations.length > 0 ? 'pass' : 'skip',
      evidence: violations.length > 0
        ? `sandbox.violation: ${JSON.stringify(violations[0]?.details ?? {})}`
        : "not reported: this deployment's executor does not observe denied network attempts (the Kubernetes executor does not; the local executor reads its jobs' network-namespace counters)",
    });
  }
  const platform = await listAll(http, '/api/v1/platform/audit', ctx.adminToken);
  const own = [...platform, ...inA, ...inB].filter((e) => ctx.adminRequestIds.has(e.requestId) && e.actor === ctx.verifierActor);
  results.push({ group: 'audit', check: "the verifier's own actions are audited", target: 'platform and tenant chains', expectation: "the verifier's tenant and token creation is recorded under its own platform token (verify-<run>)", result: own.length > 0 ? 'pass' : 'fail', evidence: own.length > 0 ? `${own.length} events by ${ctx.verifierActor}: ${[...new Set(own.map((e) => e.action))].sort().join(', ')}` : `none of ${ctx.adminRequestIds.size} verifier requests found in ${platform.length} platform events` });
  return results;
};
