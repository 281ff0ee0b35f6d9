/**
 * The `bulkhead` CLI against a real, listening server (PGlite): tenant, token, login, audit and k8s
 * commands, error output, and help text for every command.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/index.ts';
import { runCliWith } from './support/cli.ts';
import type { AdminOperations } from '../src/cli/index.ts';
import { adminToken, createTestPlatform } from './support/platform.ts';
import type { TestPlatform } from './support/platform.ts';

describe('bulkhead CLI', () => {
  let p: TestPlatform;
  let url: string;
  let dir: string;

  const notUsed = async (): Promise<never> => { throw new Error('not used in this test'); };
  const admin: AdminOperations = { migrate: notUsed, createPlatformToken: notUsed, verifyAudit: notUsed, setPassword: notUsed, doctor: notUsed };

  const run = (args: string[], env: Record<string, string> = {}) => runCliWith(args, { BULKHEAD_CLI_CONFIG: join(dir, 'cli.json'), ...env }, admin);

  before(async () => {
    p = await createTestPlatform('pglite');
    url = await p.listen();
    dir = mkdtempSync(join(tmpdir(), 'bulkhead-cli-'));
  });
  after(async () => {
    await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('platform admin creates, lists and shows tenants; JSON output parses', async () => {
    const env = { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken };
    const created = await run(['tenant', 'create', 'acme', '--name', 'Acme ML', '--tier', 'dedicated'], env);
    assert.equal(created.code, 0, created.err);
    assert.match(created.out, /slug\s+acme/);
    const listed = await run(['--json', 'tenant', 'list'], env);
    const tenants = JSON.parse(listed.out) as Array<{ slug: string; tier: string }>;
    assert.deepEqual(tenants.map((t) => [t.slug, t.tier]), [['acme', 'dedicated']]);
    assert.match((await run(['tenant', 'show', 'acme'], env)).out, /tier\s+dedicated/);
  });

  test('a token is created, printed once, and works; login saves it with mode 0600', async () => {
    const env = { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken };
    const created = await run(['--json', 'token', 'create', '--tenant', 'acme', '--name', 'laptop', '--role', 'admin'], env);
    const token = (JSON.parse(created.out) as { token: string }).token;
    assert.match(token, /^bh_/);
    const login = await run(['login', '--url', url, '--token', token]);
    assert.equal(login.code, 0, login.err);
    const file = join(dir, 'cli.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).token, token);
    const whoami = await run(['whoami']);
    assert.match(whoami.out, /role\s+admin/);
    assert.match(whoami.out, /tenant\s+acme/);
    const listed = await run(['token', 'list', '--tenant', 'acme']);
    assert.ok(!listed.out.includes(token), 'lists never show a token');
    assert.match((await run(['audit', 'verify', '--tenant', 'acme'])).out, /^ok: \d+ events/);
  });

  test('README first steps: with BULKHEAD_TOKEN unset the saved login is who you are; tenant commands take the tenant from the token', async () => {
    const asAdmin = { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken };
    assert.equal((await run(['tenant', 'create', 'steps', '--name', 'Steps'], asAdmin)).code, 0);
    const token = (JSON.parse((await run(['--json', 'token', 'create', '--tenant', 'steps', '--name', 'laptop', '--role', 'admin'], asAdmin)).out) as { token: string }).token;

    // Logging in while BULKHEAD_TOKEN is still exported: saved, and a note says the variable outranks it.
    const shadowed = await run(['login', '--url', url, '--token', token], asAdmin);
    assert.equal(shadowed.code, 0, shadowed.err);
    assert.match(shadowed.err, /BULKHEAD_TOKEN is set in this shell and wins over the saved login; run `unset BULKHEAD_TOKEN`/);
    const stillAdmin = await run(['whoami'], asAdmin);
    assert.match(stillAdmin.out, /role\s+platform_admin/);
    assert.match(stillAdmin.out, /token from\s+BULKHEAD_TOKEN/);

    // After `unset BULKHEAD_TOKEN` (the README's step), whoami shows the login.
    const afterUnset = { BULKHEAD_URL: url };
    const me = await run(['whoami'], afterUnset);
    assert.match(me.out, /role\s+admin/);
    assert.match(me.out, /tenant\s+steps/);
    assert.match(me.out, /token from\s+saved login/);
    assert.equal((await run(['login', '--url', url, '--token', token], afterUnset)).err, '', 'no note when nothing outranks the login');

    // Every tenant command works without --tenant for a tenant token.
    const submitted = await run(['--json', 'job', 'submit', '--', 'true'], afterUnset);
    assert.equal(submitted.code, 0, submitted.err);
    const jobId = (JSON.parse(submitted.out) as { id: string }).id;
    const jobs = await run(['job', 'list'], afterUnset);
    assert.equal(jobs.code, 0, jobs.err);
    assert.ok(jobs.out.includes(jobId));
    for (const args of [['job', 'show', jobId], ['job', 'explain', jobId], ['deploy', 'list'], ['token', 'list'], ['audit', 'list'], ['audit', 'verify'], ['dataset', 'list']]) {
      const result = await run(args, afterUnset);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.err}`);
    }
    assert.match((await run(['job', 'explain', jobId], afterUnset)).out, /steps|not waiting|scheduling pass/);
    // A platform-admin token belongs to no tenant: --tenant is needed, and the error says so.
    const noTenant = await run(['job', 'list'], asAdmin);
    assert.equal(noTenant.code, 1);
    assert.match(noTenant.err, /^error \[VALIDATION_FAILED\]: pass --tenant <slug> \(this token belongs to no tenant\)/);
    assert.equal((await run(['job', 'list', '--tenant', 'steps'], asAdmin)).code, 0);
  });

  test('errors print a code and exit non-zero; no URL is a clear error', async () => {
    const missing = await run(['tenant', 'show', 'nope'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken });
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^error \[NOT_FOUND\]: tenant 'nope' not found/);
    rmSync(join(dir, 'cli.json'), { force: true });
    const nowhere = await run(['whoami']);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.err, /error \[VALIDATION_FAILED\]: no API URL/);
    const down = await run(['whoami'], { BULKHEAD_URL: 'http://127.0.0.1:9', BULKHEAD_TOKEN: adminToken });
    assert.match(down.err, /error \[UNAVAILABLE\]: cannot reach the Bulkhead API/);
    assert.ok(!down.err.includes(adminToken));
  });

  test('k8s render prints the tenant bundle as YAML without a cluster', async () => {
    const rendered = await run(['k8s', 'render', 'acme'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken });
    assert.equal(rendered.code, 0, rendered.err);
    for (const kind of ['Namespace', 'ResourceQuota', 'LimitRange', 'NetworkPolicy', 'ServiceAccount', 'RoleBinding']) assert.match(rendered.out, new RegExp(`kind: ${kind}`));
    assert.match(rendered.out, /pod-security.kubernetes.io\/enforce: restricted/);
  });

  test("tenant quota set --lend-*: sets and clears lending limits; k8s render shows the organization's Cohort and the team's limit", async () => {
    const env = { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken };
    const org = await run(['tenant', 'create', 'org-north', '--name', 'Org North', '--tier', 'sandbox'], env);
    assert.equal(org.code, 0, org.err);
    assert.equal((await p.call('POST', '/api/v1/tenants', adminToken, { slug: 'team-n1', name: 'n1', tier: 'sandbox', parent: 'org-north' })).status, 201);
    const orgQuota = await run(['tenant', 'quota', 'set', 'org-north', '--cpu', '8'], env);
    assert.equal(orgQuota.code, 0, orgQuota.err);
    const set = await run(['--json', 'tenant', 'quota', 'set', 'team-n1', '--cpu', '4', '--lend-cpu', '1.5', '--lend-gpu', '0'], env);
    assert.equal(set.code, 0, set.err);
    assert.deepEqual(JSON.parse(set.out).lendingLimit, { cpu: 1.5, memoryMiB: null, gpu: 0 });
    const rendered = await run(['k8s', 'render', 'team-n1'], env);
    assert.match(rendered.out, /cohort: bulkhead-org-north/);
    assert.match(rendered.out, /lendingLimit: 1500m/);
    assert.match((await run(['k8s', 'render', 'org-north'], env)).out, /kind: Cohort\n(.|\n)*name: bulkhead-org-north(.|\n)*parent: bulkhead\n/);
    // 'all' clears a limit; a lending limit above the nominal is refused with the level and the resource.
    const cleared = await run(['--json', 'tenant', 'quota', 'set', 'team-n1', '--lend-cpu', 'all'], env);
    assert.equal(cleared.code, 0, cleared.err);
    assert.deepEqual(JSON.parse(cleared.out).lendingLimit.cpu, null);
    const refused = await run(['tenant', 'quota', 'set', 'team-n1', '--lend-cpu', '5'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /VALIDATION_FAILED.*level 1 \('team-n1'\): its cpu lending limit \(5 cores\) exceeds its own nominal cpu \(4 cores\)/);
    assert.match((await run(['tenant', 'quota', 'set', 'team-n1', '--lend-cpu', 'lots'], env)).err, /invalid lending limit 'lots'/);
  });

  test("k8s render --job prints the job's hardened batch/v1 Job", async () => {
    const created = await p.call('POST', '/api/v1/tenants/acme/jobs', adminToken, { command: ['python3', 'train.py'], resources: { cpu: 1, memoryMiB: 512, timeoutSeconds: 600 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const rendered = await run(['k8s', 'render', 'acme', '--job', created.body.id], { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken });
    assert.equal(rendered.code, 0, rendered.err);
    assert.match(rendered.out, /kind: Job/);
    assert.match(rendered.out, /activeDeadlineSeconds: 600/);
    assert.match(rendered.out, /runAsNonRoot: true/);
    assert.match(rendered.out, /readOnlyRootFilesystem: true/);
    const missing = await run(['k8s', 'render', 'acme', '--job', '00000000-0000-4000-8000-000000000000'], { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken });
    assert.equal(missing.code, 1);
    assert.match(missing.err, /NOT_FOUND/);
  });

  test("k8s render --job of a job with a dataset and a code bundle prints its inputs init container", async () => {
    const created = await p.call('POST', '/api/v1/tenants/acme/jobs', adminToken, { command: ['python3', '/code/train.py'], datasets: ['churn:3'], codeBundle: 'code/train.tar.gz' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const rendered = await run(['k8s', 'render', 'acme', '--job', created.body.id], { BULKHEAD_URL: url, BULKHEAD_TOKEN: adminToken });
    assert.equal(rendered.code, 0, rendered.err);
    // The manifest that runs the job on a cluster (the runner's cluster backend uses the same mapping).
    assert.match(rendered.out, /initContainers:\n\s+- name: inputs/);
    assert.match(rendered.out, /- bulkhead\n\s+- inputs\n\s+- fetch/);
    assert.match(rendered.out, /mountPath: \/code\n\s+readOnly: true/);
    assert.match(rendered.out, /mountPath: \/data/);
  });

  test('every command has help text', () => {
    const program = buildProgram({ io: { out: () => {}, err: () => {} }, env: {}, runServer: notUsed, admin });
    const missing: string[] = [];
    const visit = (command: Command, path: string) => {
      for (const sub of command.commands) {
        const name = `${path} ${sub.name()}`.trim();
        if (sub.description().trim() === '') missing.push(name);
        assert.ok(sub.helpInformation().includes('Usage:'), name);
        visit(sub, name);
      }
    };
    visit(program, '');
    assert.deepEqual(missing, []);
    assert.ok(program.commands.length >= 8);
  });
});
