/**
 * Issue 15: the job runner admits against the quota tree, on PGlite and PostgreSQL. The cluster side is a
 * scripted ClusterExecution without Kueue (as in jobs-cluster-mode.int.test.ts: no cluster can run here),
 * so Bulkhead itself admits against the configured capacity (16 cores) — far more than the organization's
 * 4 cores, so every refusal below is the tree's.
 *
 * org-east (4 cores) ─ team-a (2 cores, may borrow 4) and team-b (2 cores): team-a borrows team-b's idle 2
 * cores, but not past org-east's 4; explain names level 0 ('org-east'); team-b's own job (within its nominal)
 * reclaims one borrowed core from team-a (preempted and requeued), and team-a's queue waits on org-east.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Outcome } from '../src/executors/executor-contract.ts';
import { parseAllDocuments } from 'yaml';
import { databaseKinds } from './support/databases.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform } from './support/platform.ts';
import { waitFor } from './support/wait.ts';
import { scriptedCluster } from './support/scripted-cluster.ts';

const job = { name: 'train', command: ['python3', 'train.py'], resources: { cpu: 1, memoryMiB: 512, timeoutSeconds: 600 } };

for (const kind of databaseKinds) {
  describe(`job admission against the quota tree on ${kind}`, () => {
    let p: TestPlatform;
    const cluster = scriptedCluster();
    const tokens: Record<string, string> = {};

    const submit = async (slug: string) => {
      const created = await p.call('POST', `/api/v1/tenants/${slug}/jobs`, tokens[slug], job);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    const status = async (slug: string, id: string) => (await p.call('GET', `/api/v1/tenants/${slug}/jobs/${id}`, tokens[slug])).body.status as string;
    const explain = async (slug: string, id: string) => (await p.call('GET', `/api/v1/tenants/${slug}/jobs/${id}/explain`, tokens[slug])).body;

    before(async () => {
      p = await createTestPlatform(kind, { executor: 'kubernetes', capacityCpu: 16, capacityMemoryMiB: 65536 }, { cluster: { execution: cluster.execution } });
      await p.createTenant('org-east');
      for (const slug of ['team-a', 'team-b']) {
        const created = await p.call('POST', '/api/v1/tenants', adminToken, { slug, name: slug, tier: 'sandbox', parent: 'org-east' });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        tokens[slug] = (await p.call('POST', `/api/v1/tenants/${slug}/tokens`, adminToken, { name: 'm', role: 'member' })).body.token;
      }
      const quota = async (slug: string, body: unknown) => assert.equal((await p.call('PUT', `/api/v1/tenants/${slug}/quota`, adminToken, body)).status, 200);
      await quota('org-east', { cpu: 4, memoryMiB: 8192, maxConcurrentJobs: 10 });
      await quota('team-a', { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 10, borrowingLimit: { cpu: 4, memoryMiB: 4096 } });
      await quota('team-b', { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 10 });
    });
    after(async () => {
      for (const s of cluster.submissions) s.end({ kind: 'cancelled' });
      await p.platform.jobs.runner.stop();
      await p.close();
    });

    test("a sibling borrows its sibling's idle quota but not past the parent's limit; explain names the level; the owner reclaims", async () => {
      const a: string[] = [];
      for (let i = 0; i < 5; i += 1) a.push(await submit('team-a'));
      await waitFor('four of team-a\'s jobs to reach the cluster', async () => {
        await p.platform.jobs.runner.tick();
        return cluster.submissions.length >= 4;
      });
      // One more tick: nothing else may start (the flat limits alone — 2 + 4 borrowed, 16 cores — would).
      await p.platform.jobs.runner.tick();
      assert.equal(cluster.submissions.length, 4, 'org-east has 4 cores: 2 of team-a\'s own, 2 borrowed from idle team-b');
      const statuses = await Promise.all(a.map((id) => status('team-a', id)));
      assert.equal(statuses.filter((s) => s === 'queued').length, 1);
      const waiting = a[statuses.indexOf('queued')]!;
      const why = await explain('team-a', waiting);
      assert.equal(why.waiting, true);
      assert.match(why.summary, /waits for the quota tree — level 0 \('org-east'\): no cpu left to lend to 'team-a'/);

      // team-b's own job fits its nominal, which is lent to team-a: the borrower gives one core back
      // (preempted, requeued), team-b's job starts, and team-a's queued jobs wait on org-east.
      const b = await submit('team-b');
      await waitFor("team-b's job to reach the cluster", async () => {
        await p.platform.jobs.runner.tick();
        return cluster.submissions.some((s) => s.jobId === b);
      });
      const preempted = cluster.submissions.filter((s) => s.preempted);
      assert.equal(preempted.length, 1, 'exactly one borrowed core reclaimed');
      assert.equal(preempted[0]!.tenantSlug, 'team-a');
      await waitFor('the preempted job back in the queue', async () => (await status('team-a', preempted[0]!.jobId)) === 'queued');
      await p.platform.jobs.runner.tick();
      const running = cluster.submissions.filter((s) => !s.preempted);
      assert.deepEqual(running.map((s) => s.tenantSlug).sort(), ['team-a', 'team-a', 'team-a', 'team-b']);
      assert.equal(cluster.submissions.length, 5, 'nothing else started: org-east is full');
      assert.match((await explain('team-a', preempted[0]!.jobId)).summary, /level 0 \('org-east'\)/);

      // A team-a job ends: team-a (under org-east's 4 again) gets one of its queued jobs back.
      running.find((s) => s.tenantSlug === 'team-a')!.end({ kind: 'succeeded', exitCode: 0 } as Omit<Outcome, 'usage'>);
      await waitFor('one more team-a job to start', async () => {
        await p.platform.jobs.runner.tick();
        return cluster.submissions.length >= 6;
      });
      await p.platform.jobs.runner.tick();
      assert.equal(cluster.submissions.length, 6);
      assert.equal(cluster.submissions[5]!.tenantSlug, 'team-a');
    });

    test("a sibling borrows its sibling's idle quota but not beyond the lender's lending limit; the API validates and shows the limit", async () => {
      // org-west (4 cores) ─ team-c (2, may borrow 4) and team-d (2, lends at most 1): team-c gets 2 + 1.
      await p.createTenant('org-west');
      for (const slug of ['team-c', 'team-d']) {
        const created = await p.call('POST', '/api/v1/tenants', adminToken, { slug, name: slug, tier: 'sandbox', parent: 'org-west' });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        tokens[slug] = (await p.call('POST', `/api/v1/tenants/${slug}/tokens`, adminToken, { name: 'm', role: 'member' })).body.token;
      }
      const put = (slug: string, body: unknown) => p.call('PUT', `/api/v1/tenants/${slug}/quota`, adminToken, body);
      assert.equal((await put('org-west', { cpu: 4, memoryMiB: 8192, maxConcurrentJobs: 10 })).status, 200);
      assert.equal((await put('team-c', { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 10, borrowingLimit: { cpu: 4, memoryMiB: 4096 } })).status, 200);
      // A lending limit above the tenant's own nominal is refused, naming the level, tenant and resource; nothing is written.
      const tooMuch = await put('team-d', { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 10, lendingLimit: { cpu: 3 } });
      assert.equal(tooMuch.status, 400, JSON.stringify(tooMuch.body));
      assert.match(JSON.stringify(tooMuch.body), /level 1 \('team-d'\): its cpu lending limit \(3 cores\) exceeds its own nominal cpu \(2 cores\)/);
      assert.deepEqual((await p.call('GET', '/api/v1/tenants/team-d/quota', adminToken)).body.lendingLimit, { cpu: null, memoryMiB: null, gpu: null });
      // Not a number, not a resource: the schema refuses it.
      assert.equal((await put('team-d', { lendingLimit: { cpu: -1 } })).status, 400);
      assert.equal((await put('team-d', { lendingLimit: { disk: 1 } })).status, 400);
      const set = await put('team-d', { cpu: 2, memoryMiB: 4096, maxConcurrentJobs: 10, lendingLimit: { cpu: 1 } });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.deepEqual(set.body.lendingLimit, { cpu: 1, memoryMiB: null, gpu: null });
      // The sibling cannot read (nor change) the lender's quota: another tenant's resource.
      const peek = await p.call('GET', '/api/v1/tenants/team-d/quota', tokens['team-c']);
      assert.notEqual(peek.status, 200);
      assert.doesNotMatch(JSON.stringify(peek.body), /lendingLimit/);
      assert.notEqual((await p.call('PUT', '/api/v1/tenants/team-d/quota', tokens['team-c'], { lendingLimit: { cpu: 2 } })).status, 200);

      // The Kubernetes bundle renders the tree as Kueue cohorts: org-west's Cohort, team-d's queue in it with its lending limit.
      const bundle = async (slug: string) => {
        const res = await p.call('GET', `/api/v1/tenants/${slug}/kubernetes/bundle`, adminToken);
        assert.equal(res.status, 200);
        return parseAllDocuments(String(res.body)).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, any> });
      };
      const cohort = (await bundle('org-west')).find((o) => o.kind === 'Cohort');
      assert.ok(cohort !== undefined, 'an organization renders a Cohort');
      // 4 cores, all carved out by team-c and team-d: nothing left in the Cohort itself.
      assert.deepEqual(cohort.spec['resourceGroups'][0].flavors[0].resources[0], { name: 'cpu', nominalQuota: '0', borrowingLimit: '0' });
      const queue = (await bundle('team-d')).find((o) => o.kind === 'ClusterQueue')!;
      assert.equal(queue.spec['cohort'], cohort.metadata.name);
      assert.deepEqual(queue.spec['resourceGroups'][0].flavors[0].resources[0], { name: 'cpu', nominalQuota: '2', borrowingLimit: '0', lendingLimit: '1' });
      assert.notEqual((await p.call('GET', '/api/v1/tenants/team-d/kubernetes/bundle', tokens['team-c'])).status, 200, "a sibling cannot render the lender's bundle");

      const c: string[] = [];
      for (let i = 0; i < 4; i += 1) c.push(await submit('team-c'));
      const started = () => cluster.submissions.filter((s) => s.tenantSlug === 'team-c').length;
      await waitFor("three of team-c's jobs to reach the cluster", async () => {
        await p.platform.jobs.runner.tick();
        return started() >= 3;
      });
      await p.platform.jobs.runner.tick();
      assert.equal(started(), 3, "team-c: its own 2 cores and the 1 core team-d lends, not team-d's other idle core");
      const statuses = await Promise.all(c.map((id) => status('team-c', id)));
      const waiting = c[statuses.indexOf('queued')]!;
      assert.match((await explain('team-c', waiting)).summary, /level 0 \('org-west'\): no cpu left to lend to 'team-c' \(.*1 of them idle but kept back by its siblings' lending limits/);

      // Lending all again (null) frees the idle core for the borrower at the next pass.
      assert.equal((await put('team-d', { lendingLimit: { cpu: null } })).status, 200);
      await waitFor("team-c's fourth job to start once team-d lends all", async () => {
        await p.platform.jobs.runner.tick();
        return started() >= 4;
      });
    });
  });
}
