/**
 * RLS vs a plain `WHERE tenant_id` baseline, through the API, same process, same data, 1,000 tenants.
 *
 * Both variants are routes of one Fastify app behind the same authentication (token → principal),
 * tenant resolution and `authorize()`; they differ only in the data access:
 *   rls       the real route GET /api/v1/tenants/:tenant/quota — withTenant (BEGIN + SET LOCAL ROLE +
 *             set_config in one round trip, the query, COMMIT), row-level security doing the filtering.
 *   baseline  GET /bench/plain/:tenant/quota — one statement `... WHERE tenant_id = $1` on a connection
 *             that bypasses RLS (the schema owner), no transaction.
 * A load generator in the same process keeps `concurrency` keep-alive requests in flight, each for a
 * random one of the 1,000 tenants with that tenant's own token. Rounds alternate rls/baseline.
 *
 * Usage: node bench/rls-read.ts [--db postgres|pglite|both] [--seconds 5] [--rounds 3] [--concurrency 64]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { createPostgresDb, withSystem } from '../src/db/index.ts';
import type { Db, DbKind } from '../src/db/index.ts';
import { bootstrapPlatformAdmin, buildPlatformApp, createPlatform } from '../src/main/platform.ts';
import { generateToken, hashToken } from '../src/identity/index.ts';
import { createTestDatabase } from '../test/support/databases.ts';
import { randomUUID } from 'node:crypto';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'both' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    tenants: { type: 'string', default: '1000' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const tenantCount = Number(values.tenants);

interface RoundResult { requests: number; errors: number; seconds: number; latencies: number[] }

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

const load = async (port: number, pathFor: (i: number) => string, tokens: string[], durationMs: number): Promise<RoundResult> => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + durationMs;
  const one = (i: number) => new Promise<void>((resolve) => {
    const started = performance.now();
    const request = http.request({ host: '127.0.0.1', port, path: pathFor(i), agent, headers: { authorization: `Bearer ${tokens[i]}` } }, (response) => {
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
    while (performance.now() < deadline) await one(Math.floor(Math.random() * tokens.length));
  }));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { requests: latencies.length, errors, seconds: elapsed, latencies };
};

const seed = async (db: Db): Promise<{ slugs: string[]; tokens: string[] }> => {
  const slugs: string[] = [];
  const tokens: string[] = [];
  await withSystem(db, async (tx) => {
    for (let i = 0; i < tenantCount; i += 1) {
      const id = randomUUID();
      const slug = `bench-${String(i).padStart(5, '0')}`;
      const token = generateToken();
      await tx.query(`INSERT INTO tenants (id, slug, name, tier, status) VALUES ($1, $2, $2, 'sandbox', 'active')`, [id, slug]);
      await tx.query(`INSERT INTO tenant_quotas (tenant_id, cpu, memory_mib, gpu, borrow_cpu, borrow_memory_mib, borrow_gpu, max_concurrent_jobs, max_queued_jobs, storage_bytes, requests_per_second, weight)
                      VALUES ($1, $2, 4096, 0, 0, 0, 0, 4, 100, 1000000, 50, 1)`, [id, 1 + (i % 8)]);
      await tx.query(`INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, display_prefix) VALUES ($1, $2, 'bench', 'viewer', $3, 'bh_')`, [randomUUID(), id, hashToken(token)]);
      slugs.push(slug);
      tokens.push(token);
    }
  });
  return { slugs, tokens };
};

const runFor = async (kind: DbKind) => {
  const database = await createTestDatabase(kind);
  const home = mkdtempSync(join(tmpdir(), 'bulkhead-bench-'));
  try {
    const config = loadConfig({}, { home, logLevel: 'silent', bootstrapToken: generateToken() });
    const platform = await createPlatform(config, { db: database.db });
    await bootstrapPlatformAdmin(platform);
    const { slugs, tokens } = await seed(database.db);
    const app = await buildPlatformApp(platform, { logger: false });
    // The baseline: same auth and authorization, plain filtered query as the schema owner (no RLS), on a
    // pool of the same size as the platform's.
    const plain = kind === 'postgres' ? createPostgresDb({ connectionString: database.ownerUrl!, maxConnections: config.databasePoolSize }) : database.owner;
    app.get('/bench/plain/:tenant/quota', { config: { access: 'quota.read' } }, async (request) => {
      const { rows } = await plain.queryAsOwner('SELECT * FROM tenant_quotas WHERE tenant_id = $1', [request.tenant!.id]);
      return rows[0];
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const variants = {
      rls: (i: number) => `/api/v1/tenants/${slugs[i]}/quota`,
      baseline: (i: number) => `/bench/plain/${slugs[i]}/quota`,
    };
    // Warm-up: fills the token and tenant caches and the connection pools for both.
    for (const path of Object.values(variants)) await load(port, path, tokens, 1500);
    const totals = { rls: [] as RoundResult[], baseline: [] as RoundResult[] };
    for (let round = 0; round < rounds; round += 1) {
      for (const name of (round % 2 === 0 ? ['rls', 'baseline'] : ['baseline', 'rls']) as Array<keyof typeof variants>) {
        totals[name].push(await load(port, variants[name], tokens, seconds * 1000));
      }
    }
    const summary = (results: RoundResult[]) => {
      const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const requests = results.reduce((s, r) => s + r.requests, 0);
      const time = results.reduce((s, r) => s + r.seconds, 0);
      return { rps: requests / time, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors: results.reduce((s, r) => s + r.errors, 0) };
    };
    const rls = summary(totals.rls);
    const base = summary(totals.baseline);
    console.log(`\n${kind}: ${tenantCount} tenants, concurrency ${concurrency}, ${rounds} rounds × ${seconds}s each, ${os.cpus().length} cores, Node ${process.version}`);
    console.log(`  variant    req/s      p50 ms   p99 ms   errors`);
    for (const [name, s] of [['rls', rls], ['baseline', base]] as const) {
      console.log(`  ${name.padEnd(9)}  ${s.rps.toFixed(0).padStart(7)}  ${s.p50.toFixed(2).padStart(7)}  ${s.p99.toFixed(2).padStart(7)}  ${s.errors}`);
    }
    console.log(`  ratio rls/baseline: throughput ${(base.rps / rls.rps).toFixed(3)}× cost, p50 ${(rls.p50 / base.p50).toFixed(3)}×, p99 ${(rls.p99 / base.p99).toFixed(3)}×`);
    await app.close();
    await platform.close();
    if (plain !== database.owner) await plain.close();
  } finally {
    await database.drop();
    rmSync(home, { recursive: true, force: true });
  }
};

for (const kind of (values.db === 'both' ? ['postgres', 'pglite'] : [values.db]) as DbKind[]) await runFor(kind);
