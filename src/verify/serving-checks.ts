/**
 * The `serving` group: tenant A and tenant B each deploy a tiny ONNX model through the public API
 * (MLflow registry + artifact upload, `POST /api/v1/tenants/{tenant}/deployments`). Then, with A's
 * endpoint live, B with every role tries to reach it (OIP v2 infer, metadata, readiness; the deployment
 * routes under A's tenant) and must get the answer a missing model gets; and the noisy-neighbour measure:
 * A's inference latency alone, then while B floods its own deployment, the p99 ratio reported.
 *
 * Bounded: each measuring phase lasts `phaseMs` (2 s), A sends one request at a time, B's flood keeps at
 * most `floodInFlight` requests in flight, against B's own endpoint only. When the deployment cannot
 * serve (no worker runtime on this host, refused by quota …) the rows are skipped with the reason.
 * The deployments are deleted at the end (the tenants are deleted by the run anyway).
 */
import { randomBytes } from 'node:crypto';
import type { CheckResult } from './verify-types.ts';
import type { HttpAnswer, HttpCall, VerifyHttp } from './verify-http.ts';
import type { VerifyTenant } from './verify-tenants.ts';

/**
 * A logistic regression over two features (weights 1 and 2, bias 0) as ONNX, the bytes the platform's
 * own builder (src/onnx) writes: input `input` FP32 [batch, 2], output `probability` [batch, 1]. Kept
 * here as bytes because the verifier imports no server module.
 */
const tinyModelOnnx = Buffer.from('CAgSCGJ1bGtoZWFkGgExKAEyK2xvZ2lzdGljIHJlZ3Jlc3Npb24gb3ZlciAyIGZlYXR1cmVzOiBmMCwgZjE67AEKJQoFaW5wdXQKAVcSCWxvZ2l0X3JhdxoGbWF0bXVsIgZNYXRNdWwKHwoJbG9naXRfcmF3CgFCEgVsb2dpdBoDYWRkIgNBZGQKJgoFbG9naXQSC3Byb2JhYmlsaXR5GgdzaWdtb2lkIgdTaWdtb2lkEhNsb2dpc3RpY19yZWdyZXNzaW9uKhMKAgIBEAFCAVdKCAAAgD8AAABAKg4KAQEQAUIBQkoEAAAAAFocCgVpbnB1dBITChEIARINCgcSBWJhdGNoCgIIAmIiCgtwcm9iYWJpbGl0eRITChEIARINCgcSBWJhdGNoCgIIAUICEA0=', 'base64');

export interface ServingContext {
  http: VerifyHttp;
  a: VerifyTenant;
  b: VerifyTenant;
  /** How long the deployments may take to become ready, ms. */
  readyTimeoutMs: number;
  phaseMs?: number;
  floodInFlight?: number;
  log(line: string): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
const inferBody = (rows: number) => ({ inputs: [{ name: 'input', shape: [rows, 2], datatype: 'FP32', data: Array.from({ length: rows }, (_, i) => [i % 3, 1]) }] });
const mask = (text: string, ...values: string[]) => values.reduce((t, v) => t.split(v).join('<name>'), text).replace(/"(requestId|request_id|id)":"[^"]*"/g, '"$1":"…"');

/** Registers the tiny model in the tenant and deploys it as `name`; resolves to an error text or undefined. */
const deployTiny = async (http: VerifyHttp, tenant: VerifyTenant, name: string): Promise<string | undefined> => {
  const step = async (call: HttpCall, ok: (a: HttpAnswer) => boolean): Promise<string | undefined> => {
    const answer = await http.call(call);
    return ok(answer) ? undefined : `${call.method} ${call.path.split('?')[0]} answered ${answer.status} ${answer.text.slice(0, 200)}`;
  };
  const path = `models/${name}/${randomBytes(4).toString('hex')}`;
  const token = tenant.tokens.member;
  const failed = await step({ method: 'POST', path: '/api/2.0/mlflow/registered-models/create', token, body: { name } }, (r) => r.status === 200)
    ?? await step({ method: 'PUT', path: `/api/2.0/mlflow-artifacts/artifacts/${path}/model.onnx`, token, raw: tinyModelOnnx }, (r) => r.status === 200);
  if (failed !== undefined) return failed;
  const version = await http.call({ method: 'POST', path: '/api/2.0/mlflow/model-versions/create', token, body: { name, source: `mlflow-artifacts:/${path}` } });
  if (version.status !== 200) return `model-versions/create answered ${version.status} ${version.text.slice(0, 200)}`;
  const v = String((version.body as { model_version?: { version?: unknown } }).model_version?.version ?? '1');
  return step({ method: 'POST', path: `/api/v1/tenants/${tenant.slug}/deployments`, token, body: { name, model: name, version: v, replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 }, maxConcurrency: 4 } }, (r) => r.status === 201);
};

const waitReady = async (http: VerifyHttp, tenant: VerifyTenant, name: string, timeoutMs: number): Promise<string | undefined> => {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const d = await http.call({ method: 'GET', path: `/api/v1/tenants/${tenant.slug}/deployments/${name}`, token: tenant.tokens.viewer });
    const status = (d.body as { status?: string } | undefined)?.status;
    if (status === 'ready') return undefined;
    last = `${d.status} ${status ?? d.text.slice(0, 120)}`;
    if (status === 'failed') break;
    await sleep(200);
  }
  const logs = await http.call({ method: 'GET', path: `/api/v1/tenants/${tenant.slug}/deployments/${name}/logs`, token: tenant.tokens.viewer });
  return `deployment ${name} of ${tenant.slug} not ready within ${timeoutMs / 1000} s (last: ${last}); log tail: ${logs.text.split('\n').filter((l) => l.trim() !== '').slice(-2).join(' / ').slice(0, 240)}`;
};

/** A's closed-loop latency for `ms`: one request at a time. */
const measure = async (http: VerifyHttp, token: string, path: string, ms: number): Promise<{ latencies: number[]; errors: Map<number, number> }> => {
  const latencies: number[] = [];
  const errors = new Map<number, number>();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t = performance.now();
    const r = await http.call({ method: 'POST', path, token, body: inferBody(1) });
    if (r.status === 200) latencies.push(performance.now() - t);
    else errors.set(r.status, (errors.get(r.status) ?? 0) + 1);
  }
  return { latencies: latencies.sort((x, y) => x - y), errors };
};

export const runServingChecks = async (ctx: ServingContext): Promise<CheckResult[]> => {
  const { http, a, b } = ctx;
  const phaseMs = ctx.phaseMs ?? 2000;
  const floodInFlight = ctx.floodInFlight ?? 16;
  const results: CheckResult[] = [];
  const nameA = `verify-serve-${randomBytes(3).toString('hex')}`;
  const nameB = `verify-flood-${randomBytes(3).toString('hex')}`;
  const inferA = `/v2/models/${nameA}/infer`;
  const skipAll = (reason: string) => {
    results.push({ group: 'serving', check: "B reaches A's live endpoint", target: `POST /v2/models/{name}/infer`, expectation: '404 as for a missing model', result: 'skip', evidence: `the deployment cannot serve here: ${reason}` });
    results.push({ group: 'serving', check: 'noisy neighbour p99 ratio', target: `deployment ${nameA}`, expectation: 'measured (reported)', result: 'skip', evidence: `the deployment cannot serve here: ${reason}` });
  };
  try {
    ctx.log(`serving: deploying ${nameA} (A) and ${nameB} (B)`);
    const deployed = await deployTiny(http, a, nameA) ?? await deployTiny(http, b, nameB);
    const ready = deployed ?? await waitReady(http, a, nameA, ctx.readyTimeoutMs) ?? await waitReady(http, b, nameB, ctx.readyTimeoutMs);
    if (ready !== undefined) {
      skipAll(ready);
      return results;
    }
    const control = await http.call({ method: 'POST', path: inferA, token: a.tokens.member, body: inferBody(1) });
    results.push({ group: 'serving', check: "A's endpoint serves A", target: 'POST /v2/models/{name}/infer', expectation: '200 with outputs', result: control.status === 200 ? 'pass' : 'fail', evidence: `${control.status} ${control.text.slice(0, 160)}`, reproduce: http.describe({ method: 'POST', path: inferA, token: a.tokens.member, body: inferBody(1) }) });

    // B, each role, against A's live endpoint: the answer a missing model gets, never A's output.
    const missing = `verify-missing-${randomBytes(3).toString('hex')}`;
    const attacks: Array<{ target: string; call: (name: string, tenantSlug: string) => HttpCall }> = [
      { target: 'POST /v2/models/{name}/infer', call: (n) => ({ method: 'POST', path: `/v2/models/${n}/infer`, body: inferBody(1) }) },
      { target: 'GET /v2/models/{name}', call: (n) => ({ method: 'GET', path: `/v2/models/${n}` }) },
      { target: 'GET /v2/models/{name}/ready', call: (n) => ({ method: 'GET', path: `/v2/models/${n}/ready` }) },
      { target: 'GET /api/v1/tenants/{tenant}/deployments/{name}', call: (n, t) => ({ method: 'GET', path: `/api/v1/tenants/${t}/deployments/${n}` }) },
      { target: 'GET /api/v1/tenants/{tenant}/deployments/{name}/logs', call: (n, t) => ({ method: 'GET', path: `/api/v1/tenants/${t}/deployments/${n}/logs` }) },
    ];
    for (const [role, token] of Object.entries(b.tokens)) {
      for (const attack of attacks) {
        const request = { ...attack.call(nameA, a.slug), token };
        const [crossed, baseline] = await Promise.all([http.call(request), http.call({ ...attack.call(missing, a.slug), token })]);
        const same = crossed.status === baseline.status && mask(crossed.text, nameA) === mask(baseline.text, missing);
        // A viewer may not invoke at all (403 for any name): what counts is that A's name changes nothing.
        const ok = (crossed.status === 404 || crossed.status === 403) && same && !crossed.text.includes('probability');
        results.push({
          group: 'serving', check: `B reaches A's live endpoint (B ${role})`, target: attack.target, expectation: "the same answer as a missing model (404; 403 for a role that may not invoke), never A's output",
          result: ok ? 'pass' : 'fail', evidence: ok ? `${crossed.status} as for a missing model` : `${crossed.status} ${crossed.text.slice(0, 200)} (missing model: ${baseline.status})`,
          reproduce: http.describe(request),
        });
      }
    }

    // Noisy neighbour: A alone, then A while B floods its own endpoint.
    ctx.log('serving: noisy-neighbour measure');
    await measure(http, a.tokens.member, inferA, Math.min(500, phaseMs)); // warm-up
    const alone = await measure(http, a.tokens.member, inferA, phaseMs);
    let flooding = true;
    const floodStatus = new Map<number, number>();
    const flooder = async () => {
      while (flooding) {
        const r = await http.call({ method: 'POST', path: `/v2/models/${nameB}/infer`, token: b.tokens.member, body: inferBody(64) }).catch(() => ({ status: 0 }));
        floodStatus.set(r.status, (floodStatus.get(r.status) ?? 0) + 1);
      }
    };
    const flood = Array.from({ length: floodInFlight }, flooder);
    await sleep(200);
    const under = await measure(http, a.tokens.member, inferA, phaseMs);
    flooding = false;
    await Promise.all(flood);
    const p = (l: number[], q: number) => `${percentile(l, q).toFixed(1)} ms`;
    const ratio = percentile(under.latencies, 0.99) / percentile(alone.latencies, 0.99);
    const errs = (m: Map<number, number>) => [...m].map(([s, n]) => `${s}×${n}`).join(', ') || 'none';
    results.push({
      group: 'serving', check: 'noisy neighbour p99 ratio', target: `deployment ${nameA}`, expectation: "measured (reported): A's p99 under B's flood / alone",
      result: alone.latencies.length > 0 && under.latencies.length > 0 ? 'pass' : 'skip',
      evidence: `ratio ${ratio.toFixed(2)}: alone p50 ${p(alone.latencies, 0.5)} p99 ${p(alone.latencies, 0.99)} (${alone.latencies.length} requests); under B's flood p50 ${p(under.latencies, 0.5)} p99 ${p(under.latencies, 0.99)} (${under.latencies.length}); B's flood (${floodInFlight} in flight, ${phaseMs / 1000} s): ${errs(floodStatus)}`,
      reproduce: `A: sequential ${http.describe({ method: 'POST', path: inferA, token: a.tokens.member, body: inferBody(1) })}; B: ${floodInFlight} concurrent POST /v2/models/${nameB}/infer (64 rows)`,
    });
    results.push({
      group: 'serving', check: "A is served during B's flood", target: `deployment ${nameA}`, expectation: "every A request answered 200 while B floods",
      result: under.errors.size === 0 && under.latencies.length > 0 ? 'pass' : 'fail', evidence: `${under.latencies.length} answered 200; other answers: ${errs(under.errors)}`,
    });
  } finally {
    for (const [tenant, name] of [[a, nameA], [b, nameB]] as const) {
      await http.call({ method: 'DELETE', path: `/api/v1/tenants/${tenant.slug}/deployments/${name}`, token: tenant.tokens.member }).catch(() => undefined);
    }
  }
  return results;
};
