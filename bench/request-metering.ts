/**
 * What request metering costs on the request path: two Fastify apps in one process, the same route (a
 * small JSON answer, no database), one with the monitoring hooks (route-template metrics, the per-tenant
 * counter, the in-memory usage counters, flushed to a real PGlite ledger every 10 s, the default, during the run) and
 * one without. The route does no work, so the ratio is the worst case: a real route's own work dilutes it.
 * Rounds alternate baseline / metered; a load generator in the same process keeps `concurrency`
 * keep-alive requests in flight, each as one of 1,000 tenants.
 *
 * Also: the time of one flush of 1,000 tenants' counts (one transaction).
 *
 * Usage: node bench/request-metering.ts [--seconds 3] [--rounds 3] [--concurrency 32]
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { createPgliteDb, migrate } from '../src/db/index.ts';
import { createPlatformMetrics, createUsageAccumulator, registerRequestMetering } from '../src/monitoring/index.ts';
import '../src/http/route-config.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const tenants = Array.from({ length: 1000 }, () => randomUUID());

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

const build = async (metered: boolean, usage: ReturnType<typeof createUsageAccumulator>): Promise<FastifyInstance> => {
  const app = Fastify({ logger: false });
  // What the auth hook would have set: the caller's principal and tenant.
  app.decorateRequest('principal', undefined);
  app.decorateRequest('tenant', undefined);
  app.addHook('onRequest', async (request) => {
    const tenantId = String(request.headers['x-tenant']);
    request.principal = { kind: 'tenant', tokenId: 't', tenantId, role: 'viewer', userId: undefined, label: 'bench' };
    request.tenant = { id: tenantId, slug: 's', name: 'n', tier: 'sandbox', status: 'active', createdAt: '', updatedAt: '' } as never;
  });
  if (metered) registerRequestMetering(app, { metrics: createPlatformMetrics({ maxTenants: 1000 }), usage });
  app.get('/api/v1/tenants/:tenant/things/:id', { config: { access: 'tenant.read' } }, async (request) => ({ id: (request.params as { id: string }).id, ok: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
};

const load = async (port: number, durationMs: number) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + durationMs;
  const one = () => new Promise<void>((resolve) => {
    const started = performance.now();
    const tenant = tenants[Math.floor(Math.random() * tenants.length)]!;
    const request = http.request({ host: '127.0.0.1', port, path: `/api/v1/tenants/${tenant}/things/${randomUUID()}`, agent, headers: { 'x-tenant': tenant } }, (response) => {
      response.resume();
      response.on('end', () => {
        if (response.statusCode !== 200) errors += 1;
        latencies.push(performance.now() - started);
        resolve();
      });
    });
    request.on('error', () => { errors += 1; resolve(); });
    request.end();
  });
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) await one();
  }));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
};

const db = await createPgliteDb();
await migrate(db);
// Tenants must exist for their ledger rows to be kept.
await db.execAsOwner(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ${tenants.map((id, i) => `('${id}', 'bench-${String(i).padStart(4, '0')}', 'b', 'sandbox', 'active')`).join(', ')}`);
const usage = createUsageAccumulator({ db, instanceId: `bench-${randomUUID()}`, intervalMs: 10_000 });
usage.start();
const baseline = await build(false, usage);
const metered = await build(true, usage);
const portOf = (app: FastifyInstance) => (app.server.address() as { port: number }).port;

await load(portOf(baseline), 1000);
await load(portOf(metered), 1000);
const results: Record<'baseline' | 'metered', Array<Awaited<ReturnType<typeof load>>>> = { baseline: [], metered: [] };
for (let round = 0; round < rounds; round += 1) {
  results.baseline.push(await load(portOf(baseline), seconds * 1000));
  results.metered.push(await load(portOf(metered), seconds * 1000));
}
await usage.stop();
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (name: 'baseline' | 'metered') => ({
  rps: median(results[name].map((r) => r.rps)), p50: median(results[name].map((r) => r.p50)), p99: median(results[name].map((r) => r.p99)), errors: results[name].reduce((s, r) => s + r.errors, 0),
});
const b = summary('baseline');
const m = summary('metered');

// One flush of 1,000 tenants' counts (4 resources each), one transaction.
for (const tenant of tenants) for (const resource of ['apiRequests', 'inferenceRequests', 'inferenceSeconds', 'artifactBytesDownloaded'] as const) usage.add(tenant, resource, 3);
const flushStarted = performance.now();
const rows = await usage.flush();
const flushMs = performance.now() - flushStarted;
const ledger = (await db.queryAsOwner<{ n: number }>("SELECT sum(quantity)::float8 AS n FROM usage_ledger WHERE resource = 'apiRequests'")).rows[0]?.n ?? 0;

console.log(`machine: ${os.cpus()[0]?.model ?? '?'} × ${String(os.cpus().length)}, node ${process.version}; ${String(rounds)} rounds × ${String(seconds)} s, concurrency ${String(concurrency)}, 1,000 tenants`);
console.log(`baseline: ${b.rps.toFixed(0)} req/s, p50 ${b.p50.toFixed(2)} ms, p99 ${b.p99.toFixed(2)} ms, errors ${String(b.errors)}`);
console.log(`metered:  ${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms, errors ${String(m.errors)}`);
console.log(`ratio metered/baseline: throughput ${(m.rps / b.rps).toFixed(3)}×, p50 ${(m.p50 / b.p50).toFixed(3)}×, p99 ${(m.p99 / b.p99).toFixed(3)}×`);
console.log(`ledger apiRequests after the run: ${String(ledger)} (every metered request, flushed during and after the run)`);
console.log(`one flush of 1,000 tenants × 4 resources: ${String(rows)} rows in ${flushMs.toFixed(1)} ms (one transaction, PGlite)`);
await Promise.all([baseline.close(), metered.close()]);
await db.close();
