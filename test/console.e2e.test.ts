/**
 * The web console in a real browser (Debian's Chromium via playwright-core), against a real `bulkhead up`
 * on a free port (PGlite; the session store's database behaviour on PostgreSQL too is covered by
 * console-sessions.int.test.ts). Each browser gets a fresh --user-data-dir. Screenshots of the main pages
 * land in docs/console/ with BULKHEAD_CONSOLE_SCREENSHOTS=docs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callServer, mustServer, startServerProcess } from './support/server-process.ts';
import type { ServerProcess } from './support/server-process.ts';
import { countColoredPixels, openBrowser, seriousAxeViolations } from './support/browser.ts';
import type { TestBrowser } from './support/browser.ts';
import { waitFor } from './support/wait.ts';
import { buildLogisticRegressionOnnx } from '../src/onnx/index.ts';

// Page-side code (page.evaluate) runs in the browser; the test program is compiled without the DOM library.
declare const document: any;
declare const window: any;
declare const localStorage: any;
declare const sessionStorage: any;

const adminToken = 'bh_console-e2e-admin-token-0123456789abcdefghijkl';
// Screenshots of the main pages: into docs/console/ with BULKHEAD_CONSOLE_SCREENSHOTS=docs (how the docs'
// images are made), else into a temporary directory, so a test run leaves the working tree clean.
const shots = process.env['BULKHEAD_CONSOLE_SCREENSHOTS'] === 'docs'
  ? fileURLToPath(new URL('../docs/console/', import.meta.url))
  : mkdtempSync(join(tmpdir(), 'bulkhead-console-shots-'));
const xssName = '<img src=x onerror=alert(1)>';
const blue = '#0072B2';
const orange = '#D55E00';

describe('web console in Chromium', () => {
  let server: ServerProcess;
  let home: string;
  const browsers: TestBrowser[] = [];
  const tokens: Record<string, string> = {};
  const ids: { experiment: string; runs: string[]; xssRun: string; job?: string } = { experiment: '', runs: [], xssRun: '' };

  const api = (token: string, method: string, path: string, body?: unknown) => mustServer(server.url, token, method, path, body);
  const browser = async (): Promise<TestBrowser> => {
    const b = await openBrowser();
    browsers.push(b);
    return b;
  };
  const signInWithToken = async (b: TestBrowser, token: string, path = '/ui/') => {
    await b.page.goto(`${server.url}${path}`);
    await b.page.getByLabel('Access token').fill(token);
    await b.page.getByRole('button', { name: 'Sign in with token' }).click();
  };
  const shot = (b: TestBrowser, name: string) => b.page.screenshot({ path: join(shots, `${name}.png`) });

  before(async () => {
    mkdirSync(shots, { recursive: true });
    home = mkdtempSync(join(tmpdir(), 'bulkhead-console-e2e-'));
    server = await startServerProcess({ BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, BULKHEAD_LOG_LEVEL: 'info' }, 120_000);
    for (const slug of ['team-a', 'team-b']) {
      await api(adminToken, 'POST', '/api/v1/tenants', { slug, name: `Team ${slug.slice(-1).toUpperCase()}`, tier: 'process' });
      tokens[slug] = (await api(adminToken, 'POST', `/api/v1/tenants/${slug}/tokens`, { name: 'console', role: 'admin' })).token;
    }
    await api(adminToken, 'POST', '/api/v1/users', { username: 'bob', password: 'bob-has-a-long-password' });
    await api(adminToken, 'PUT', '/api/v1/tenants/team-b/members/bob', { role: 'admin' });

    const a = tokens['team-a']!;
    ids.experiment = (await api(a, 'POST', '/api/2.0/mlflow/experiments/create', { name: 'churn-model' })).experiment_id;
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    for (const [i, name] of ['baseline', 'wider'].entries()) {
      const run = (await api(a, 'POST', '/api/2.0/mlflow/runs/create', { experiment_id: ids.experiment, run_name: name, start_time: t0 + i * 1000 })).run;
      ids.runs.push(run.info.run_id);
      const metrics = Array.from({ length: 100 }, (_, step) => ({ key: 'loss', value: (i + 1) / (1 + step / 10), timestamp: t0 + step * 1000, step }));
      await api(a, 'POST', '/api/2.0/mlflow/runs/log-batch', {
        run_id: run.info.run_id, metrics,
        params: [{ key: 'lr', value: i === 0 ? '0.01' : '0.1' }, { key: 'layers', value: String(2 + i) }],
        tags: [{ key: 'team', value: 'growth' }],
      });
    }
    const xss = (await api(a, 'POST', '/api/2.0/mlflow/runs/create', { experiment_id: ids.experiment, run_name: xssName, start_time: t0 + 5000 })).run;
    ids.xssRun = xss.info.run_id;
    await api(a, 'POST', '/api/2.0/mlflow/runs/log-batch', { run_id: xss.info.run_id, params: [{ key: 'html', value: '<script>alert(2)</script>' }], tags: [{ key: 'note', value: '"><svg onload=alert(3)>' }] });
    const root = String(xss.info.artifact_uri).replace(/^mlflow-artifacts:\/*/, '');
    for (const [name, body] of [['x.html', '<html><body><script>alert(4)</script><img src=x onerror=alert(5)></body></html>'], ['notes.json', '{"a":1,"b":[1,2]}']] as const) {
      const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${root}/${name}`, { method: 'PUT', headers: { authorization: `Bearer ${a}`, 'content-type': 'application/octet-stream' }, body });
      assert.equal(put.status, 200, await put.text());
    }
  });

  after(async () => {
    for (const b of browsers) await b.close().catch(() => {});
    await server?.kill('SIGTERM');
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
  });

  test('sign-in with an access token; the page survives a reload (deep link)', async () => {
    const b = await browser();
    await b.page.goto(`${server.url}/`);
    assert.match(b.page.url(), /\/ui\/$/, 'GET / redirects to the console');
    await signInWithToken(b, tokens['team-a']!);
    await b.page.waitForURL(/\/ui\/t\/team-a\/experiments$/);
    await b.page.getByRole('link', { name: 'churn-model' }).waitFor();
    await shot(b, 'experiments');
    await b.page.reload();
    await b.page.getByRole('link', { name: 'churn-model' }).waitFor();
    const stored = await b.page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    assert.ok(!stored.includes(tokens['team-a']!), 'the token is in no storage the page can read');
    assert.ok(!b.page.url().includes('bh_'), 'nor in the URL');
    const cookies = await b.context.cookies();
    const session = cookies.find((c) => c.name === 'bulkhead_session');
    assert.equal(session?.httpOnly, true);
    assert.equal(session?.sameSite, 'Strict');
  });

  test('runs table: params, metrics and tags as columns; MLflow filter; hostile names render as text', async () => {
    const b = browsers[0]!;
    await b.page.getByRole('link', { name: 'churn-model' }).click();
    const table = b.page.getByRole('table');
    await table.waitFor();
    for (const header of ['param lr', 'param layers', 'metric loss', 'tag team']) await b.page.getByRole('columnheader', { name: header }).waitFor();
    await b.page.getByRole('link', { name: xssName }).waitFor();
    assert.equal(await b.page.locator('img[src="x"]').count(), 0, 'the run name made no element');
    await shot(b, 'runs');
    await b.page.getByLabel('Filter (MLflow syntax)').fill("params.lr = '0.1'");
    await b.page.getByRole('button', { name: 'Apply' }).click();
    await b.page.waitForURL(/filter=/);
    await b.page.getByRole('link', { name: 'wider' }).waitFor();
    assert.equal(await b.page.getByRole('link', { name: 'baseline' }).count(), 0);
    await b.page.reload();
    await b.page.getByRole('link', { name: 'wider' }).waitFor();
    assert.equal(await b.page.getByLabel('Filter (MLflow syntax)').inputValue(), "params.lr = '0.1'", 'the filter survives a reload');
  });

  test('the Run, Ended and User columns sort on the server: a click orders descending, the next ascending', async () => {
    const b = browsers[0]!;
    await b.page.goto(`${server.url}/ui/t/team-a/experiments/${ids.experiment}`);
    await b.page.getByRole('link', { name: 'wider' }).waitFor();
    // Waits until the two plain names are in this table order (the third run's name is markup, whose place
    // depends on the collation), with all three runs shown.
    const shownInOrder = (want: string) => b.page.waitForFunction((w) => {
      const names = [...document.querySelectorAll('table.runs a')].map((a) => a.textContent);
      return names.length === 3 && names.filter((n) => n === 'baseline' || n === 'wider').join(',') === w;
    }, want);
    const sortedBy = (label: string, direction: string) => b.page.locator(`th[aria-sort="${direction}"]`, { hasText: label }).waitFor();
    await shownInOrder('wider,baseline'); // the default order: newest start first
    await b.page.getByRole('button', { name: 'Run', exact: true }).click();
    await b.page.waitForURL(/order=attributes\.run_name\+DESC/);
    await sortedBy('Run', 'descending');
    await shownInOrder('wider,baseline');
    await b.page.getByRole('button', { name: 'Run', exact: true }).click();
    await b.page.waitForURL(/order=attributes\.run_name\+ASC/);
    await sortedBy('Run', 'ascending');
    await shownInOrder('baseline,wider');
    // No run has ended: the end-time order is MLflow's tail (newest start first) for all three.
    await b.page.getByRole('button', { name: 'Ended', exact: true }).click();
    await b.page.waitForURL(/order=attributes\.end_time\+DESC/);
    await sortedBy('Ended', 'descending');
    await shownInOrder('wider,baseline');
    // One user made all three runs: in both directions the order is MLflow's tail, newest start first (the
    // descending order is read in windows of runs_user_idx, the ascending one walks it).
    for (const [direction, param] of [['descending', 'DESC'], ['ascending', 'ASC']] as const) {
      await b.page.getByRole('button', { name: 'User', exact: true }).click();
      await b.page.waitForURL(new RegExp(`order=attributes\\.user_id\\+${param}`));
      await sortedBy('User', direction);
      await shownInOrder('wider,baseline');
    }
  });

  test('a page of 1,000 runs renders only the rows in view (virtualized) and scrolls to the last', async () => {
    const a = tokens['team-a']!;
    const big = (await api(a, 'POST', '/api/2.0/mlflow/experiments/create', { name: 'big' })).experiment_id as string;
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = next++; i < 600; i = next++) await api(a, 'POST', '/api/2.0/mlflow/runs/create', { experiment_id: big, run_name: `big-${i}`, start_time: 1_000_000 + i });
    }));
    const b = browsers[0]!;
    await b.page.goto(`${server.url}/ui/t/team-a/experiments/${big}?size=1000`);
    await b.page.getByText('600 runs on this page').waitFor();
    await b.page.getByRole('link', { name: 'big-599', exact: true }).waitFor();
    const rendered = await b.page.locator('table.runs tbody tr:not(.spacer)').count();
    assert.ok(rendered > 10 && rendered < 120, `${rendered} rows in the DOM for 600 runs`);
    assert.equal(await b.page.getByRole('link', { name: 'big-0', exact: true }).count(), 0, 'the last row is not rendered yet');
    await b.page.locator('.table-wrap').evaluate((el: any) => {
      el.scrollTop = el.scrollHeight;
    });
    await b.page.getByRole('link', { name: 'big-0', exact: true }).waitFor();
    assert.ok((await b.page.locator('table.runs tbody tr:not(.spacer)').count()) < 120);
  });

  test('a run page draws its metric chart with real points', async () => {
    const b = browsers[0]!;
    await b.page.goto(`${server.url}/ui/t/team-a/runs/${ids.runs[0]}`);
    const chart = b.page.getByRole('img', { name: 'loss chart' });
    await chart.waitFor();
    await b.page.waitForFunction(() => document.querySelector('[aria-label="loss chart"]')?.getAttribute('data-points') !== null);
    assert.equal(await chart.getAttribute('data-points'), '100');
    const blueOnCanvas = await countColoredPixels(b.page, '[aria-label="loss chart"] canvas', blue);
    assert.ok(blueOnCanvas > 200, `the series is drawn (${blueOnCanvas} pixels of its colour)`);
    assert.equal(await countColoredPixels(b.page, '[aria-label="loss chart"] canvas', orange), 0, 'one run: one series');
    await shot(b, 'run');
  });

  test('comparing two runs overlays both series', async () => {
    const b = browsers[0]!;
    await b.page.goto(`${server.url}/ui/t/team-a/experiments/${ids.experiment}`);
    await b.page.getByRole('checkbox', { name: 'select baseline' }).check();
    await b.page.getByRole('checkbox', { name: 'select wider' }).check();
    await b.page.getByRole('button', { name: /Compare selected/ }).click();
    await b.page.waitForURL(/\/compare\?runs=/);
    const chart = b.page.getByRole('img', { name: 'loss chart' });
    await chart.waitFor();
    await b.page.waitForFunction(() => document.querySelector('[aria-label="loss chart"]')?.getAttribute('data-points') !== null);
    assert.equal(await chart.getAttribute('data-points'), '200');
    const [first, second] = await Promise.all([blue, orange].map((c) => countColoredPixels(b.page, '[aria-label="loss chart"] canvas', c)));
    assert.ok(first! > 200 && second! > 200, `both series drawn: ${first} and ${second} pixels`);
    await shot(b, 'compare');
  });

  test('an HTML artifact and hostile params execute nothing: zero dialogs, zero CSP violations', async () => {
    const b = browsers[0]!;
    await b.page.goto(`${server.url}/ui/t/team-a/runs/${ids.xssRun}`);
    await b.page.getByRole('heading', { name: `Run ${xssName}` }).waitFor();
    await b.page.getByRole('button', { name: 'preview x.html' }).click();
    const preview = b.page.getByLabel(/^preview of .*x\.html$/);
    await preview.waitFor();
    assert.match(await preview.innerText(), /<script>alert\(4\)<\/script>/);
    await b.page.getByRole('button', { name: 'preview notes.json' }).click();
    await b.page.getByText('"b": [').waitFor();
    assert.equal(await b.page.locator('img[src="x"], svg[onload]').count(), 0);
    await shot(b, 'artifacts');
    assert.deepEqual(b.dialogs, []);
    assert.deepEqual(await b.violations(), []);
  });

  test("tenant B (password sign-in) sees none of tenant A's data, in lists or by typing A's ids", async () => {
    const b = await browser();
    await b.page.goto(`${server.url}/ui/`);
    await b.page.getByLabel('Username').fill('bob');
    await b.page.getByLabel('Password', { exact: true }).fill('bob-has-a-long-password');
    // bob is a member of team-b only: no tenant to pick.
    assert.equal(await b.page.getByLabel(/^Tenant/).count(), 0, 'no free-text tenant field');
    await b.page.getByRole('button', { name: 'Sign in with password' }).click();
    await b.page.waitForURL(/\/ui\/t\/team-b\/experiments$/);
    await b.page.getByRole('heading', { name: 'Experiments' }).waitFor();
    await b.page.getByText(/No experiments yet|Default/).first().waitFor();
    assert.equal(await b.page.getByText('churn-model').count(), 0);
    const notFound = async (path: string) => {
      await b.page.goto(`${server.url}${path}`);
      await b.page.getByRole('alert').filter({ hasText: /not found|does not exist|not exist/i }).waitFor();
      const text = await b.page.locator('main').innerText();
      for (const secret of ['churn-model', 'baseline', 'wider', 'x.html', 'growth']) assert.ok(!text.includes(secret), `${path} shows ${secret}`);
    };
    await notFound('/ui/t/team-a/experiments');
    await notFound(`/ui/t/team-a/runs/${ids.runs[0]}`);
    await notFound(`/ui/t/team-b/runs/${ids.runs[0]}`);
    await notFound(`/ui/t/team-b/experiments/${ids.experiment}`);
    await notFound('/ui/t/team-a/audit');
    await notFound('/ui/t/team-a/jobs');
    await notFound('/ui/t/team-a/deployments');
    await notFound('/ui/admin/tenants');
    await notFound('/ui/admin/scheduler');
    // B's own audit log lists none of A's events.
    await b.page.goto(`${server.url}/ui/t/team-b/audit`);
    await b.page.getByText(/Chain verification/).waitFor();
    assert.ok(!(await b.page.locator('main').innerText()).includes('team-a'));
  });

  test('a user in several tenants picks one from the list the server gives after the password', async () => {
    await api(adminToken, 'POST', '/api/v1/users', { username: 'carol', password: 'carol-has-a-long-password' });
    for (const slug of ['team-b', 'team-a']) await api(adminToken, 'PUT', `/api/v1/tenants/${slug}/members/carol`, { role: 'viewer' });
    // A browser of its own, closed here (the tests after this one use browsers[1] and [2] by position).
    const b = await openBrowser();
    try {
    await b.page.goto(`${server.url}/ui/`);
    await b.page.getByLabel('Username').fill('carol');
    await b.page.getByLabel('Password', { exact: true }).fill('carol-has-a-long-password');
    await b.page.getByRole('button', { name: 'Sign in with password' }).click();
    const picker = b.page.getByRole('combobox', { name: 'Tenant' });
    await picker.waitFor();
    assert.deepEqual(await picker.locator('option').evaluateAll((os: any[]) => os.map((o) => o.value)), ['team-a', 'team-b']);
    assert.deepEqual(await seriousAxeViolations(b.page), [], 'sign-in page with the tenant picker');
    await picker.selectOption('team-b');
    await b.page.getByRole('button', { name: 'Sign in with password' }).click();
    await b.page.waitForURL(/\/ui\/t\/team-b\/experiments$/);
    await b.page.getByRole('heading', { name: 'Experiments' }).waitFor();
    assert.match(await b.page.locator('header .who').innerText(), /carol.*team-b/);
    await b.page.goto(`${server.url}/ui/t/team-a/experiments`);
    await b.page.getByRole('alert').filter({ hasText: /not found/i }).waitFor();
    assert.deepEqual(b.dialogs, []);
    assert.deepEqual(await b.violations(), []);
    } finally {
      await b.close();
    }
  });

  test('sign-out revokes the session server-side; a revoked token signs the page out', async () => {
    const b = browsers[1]!;
    await b.page.goto(`${server.url}/ui/t/team-b/experiments`);
    const cookie = (await b.context.cookies()).find((c) => c.name === 'bulkhead_session')!;
    await b.page.getByRole('button', { name: 'Sign out' }).click();
    await b.page.getByText('You signed out.').waitFor();
    const replay = await fetch(`${server.url}/api/v1/tenants/team-b/jobs`, { headers: { cookie: `bulkhead_session=${cookie.value}` } });
    assert.equal(replay.status, 401, 'the old cookie is refused by the server');

    const c = await browser();
    const minted = await api(adminToken, 'POST', '/api/v1/tenants/team-b/tokens', { name: 'short-lived', role: 'viewer' });
    await signInWithToken(c, minted.token);
    await c.page.waitForURL(/\/ui\/t\/team-b\/experiments$/);
    await api(adminToken, 'DELETE', `/api/v1/tenants/team-b/tokens/${minted.id}`);
    await c.page.reload();
    await c.page.getByText(/You are signed out/).waitFor();
    await c.page.getByLabel('Access token').waitFor();
  });

  test('a suspended tenant: a clear message, no data', async () => {
    const c = browsers[2]!;
    const minted = await api(adminToken, 'POST', '/api/v1/tenants/team-b/tokens', { name: 'suspend-me', role: 'viewer' });
    await signInWithToken(c, minted.token);
    await c.page.waitForURL(/\/ui\/t\/team-b\/experiments$/);
    await api(adminToken, 'PATCH', '/api/v1/tenants/team-b', { status: 'suspended' });
    try {
      await c.page.reload();
      await c.page.getByText(/suspended/).first().waitFor();
    } finally {
      await api(adminToken, 'PATCH', '/api/v1/tenants/team-b', { status: 'active' });
    }
  });

  test("a job's log lines stream in while it runs; cancel and explain answer", async () => {
    const b = browsers[0]!;
    const gate = mkdtempSync(join(tmpdir(), 'bulkhead-console-gate-'));
    chmodSync(gate, 0o755);
    try {
      // The job prints one line, then waits for the test to drop a file before printing the second: the
      // first line must be on the page while the job is still running.
      const script = `echo first-line; while [ ! -e ${gate}/go ]; do sleep 0.1; done; echo second-line`;
      const job = await api(tokens['team-a']!, 'POST', '/api/v1/tenants/team-a/jobs', { name: 'streamer', command: ['sh', '-c', script], resources: { cpu: 0.2, memoryMiB: 64, timeoutSeconds: 120 } });
      ids.job = job.id;
      await b.page.goto(`${server.url}/ui/t/team-a/jobs/${job.id}`);
      const log = b.page.getByLabel('job log');
      await waitFor('the first log line on the page', async () => (await log.innerText()).includes('first-line'), 120_000).catch(async (error: unknown) => {
        const state = await api(tokens['team-a']!, 'GET', `/api/v1/tenants/team-a/jobs/${job.id}`);
        throw new Error(`${String(error)}; job ${JSON.stringify(state).slice(0, 1500)}; page: ${await log.innerText()}`);
      });
      assert.equal((await api(tokens['team-a']!, 'GET', `/api/v1/tenants/team-a/jobs/${job.id}`)).status, 'running');
      assert.ok(!(await log.innerText()).includes('second-line'));
      await shot(b, 'job');
      writeFileSync(join(gate, 'go'), '');
      await waitFor('the second log line on the page', async () => (await log.innerText()).includes('second-line'), 60_000);
      await b.page.getByText('The log is complete.').waitFor();
      await b.page.getByRole('button', { name: 'Why is my job waiting?' }).click();
      await b.page.getByLabel('explanation').waitFor();
      assert.match(await b.page.getByLabel('explanation').innerText(), /not waiting/);
    } finally {
      rmSync(gate, { recursive: true, force: true });
    }
  });

  test('the try-it form sends an OIP v2 request and shows the prediction', async () => {
    // Serving workers run in the sandbox tier (team-a is a process-tier tenant for the job test above).
    await api(adminToken, 'POST', '/api/v1/tenants', { slug: 'team-c', name: 'Team C', tier: 'sandbox' });
    const a = (await api(adminToken, 'POST', '/api/v1/tenants/team-c/tokens', { name: 'console', role: 'admin' })).token as string;
    await api(a, 'POST', '/api/2.0/mlflow/registered-models/create', { name: 'churn' });
    const bytes = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: ['f0', 'f1'], weights: [1, 2], bias: 0 });
    const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/models/churn/v1/model.onnx`, { method: 'PUT', headers: { authorization: `Bearer ${a}`, 'content-type': 'application/octet-stream' }, body: Buffer.from(bytes) });
    assert.equal(put.status, 200, await put.text());
    const version = (await api(a, 'POST', '/api/2.0/mlflow/model-versions/create', { name: 'churn', source: 'mlflow-artifacts:/models/churn/v1' })).model_version.version;
    await api(a, 'POST', '/api/v1/tenants/team-c/deployments', { name: 'churn', model: 'churn', version: String(version), replicas: 1, resources: { cpu: 0.5, memoryMiB: 512 } });
    let last: unknown;
    await waitFor('the deployment to be ready', async () => {
      last = await api(a, 'GET', '/api/v1/tenants/team-c/deployments/churn');
      return (last as { status: string }).status === 'ready';
    }, 60_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(last)}\n${server.output().slice(-3000)}`);
    });
    const input = { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [[1, 1]] }] };
    const expected = await api(a, 'POST', '/v2/models/churn/infer', input);
    const b = await browser();
    await signInWithToken(b, a, '/ui/t/team-c/deployments');
    await b.page.waitForURL(/\/ui\/t\/team-c\/experiments$/);
    await b.page.goto(`${server.url}/ui/t/team-c/deployments`);
    await b.page.getByLabel('OIP v2 request for churn').fill(JSON.stringify(input));
    await b.page.getByRole('button', { name: 'Send request' }).click();
    const result = b.page.getByLabel('prediction of churn');
    await result.waitFor();
    const shown = JSON.parse(await result.innerText());
    assert.deepEqual(shown.outputs, expected.outputs);
    assert.ok(JSON.stringify(shown.outputs).length > 10, JSON.stringify(shown));
    // Live request rate, latency and 429s (refreshed every 3 s): the API's request and the form's are counted,
    // and the page shows what the stats API answers (this server process's window).
    const live = b.page.getByRole('group', { name: 'live requests of churn' });
    await waitFor('the live stats to count the inference requests', async () => Number(await live.getAttribute('data-requests')) >= 2, 30_000);
    const stats = await api(a, 'GET', '/api/v1/tenants/team-c/deployments/churn/stats');
    assert.ok(stats.requests >= 2 && stats.p50Ms !== null && stats.rateLimited === 0, JSON.stringify(stats));
    await waitFor('the page to show the stats the API answers', async () => Number(await live.getAttribute('data-requests')) === stats.requests, 10_000);
    const liveText = await live.innerText();
    assert.match(liveText, new RegExp(`p50\\s+${(stats.p50Ms as number).toFixed(1)} ms`), liveText);
    assert.match(liveText, new RegExp(`p99\\s+${(stats.p99Ms as number).toFixed(1)} ms`), liveText);
    assert.match(liveText, /429s\s+0/, liveText);
    assert.deepEqual(await seriousAxeViolations(b.page), [], 'deployments page with live stats');
    await shot(b, 'deployments');
    // The lineage graph, drawn: the model version and the deployment serving it.
    await b.page.goto(`${server.url}/ui/t/team-c/models`);
    await b.page.getByRole('link', { name: 'lineage of churn v1' }).click();
    await b.page.getByRole('img', { name: 'lineage graph of churn version 1' }).waitFor();
    await b.page.getByText('churn v1 → churn (ready)').waitFor();
    assert.equal(await b.page.locator('svg .lineage-edge').count(), 1);
    await shot(b, 'lineage');
  });

  test('tokens: a new token is shown once and works; revoking it from the page ends it', async () => {
    const b = browsers[0]!;
    await b.page.goto(`${server.url}/ui/t/team-a/access`);
    await b.page.getByLabel('Token name').fill('ci-token');
    await b.page.getByLabel('Role').selectOption('viewer');
    await b.page.getByRole('button', { name: 'Create token' }).click();
    const shown = (await b.page.getByLabel('new token').innerText()).trim();
    assert.match(shown, /^bh_/);
    assert.equal((await callServer(server.url, shown, 'GET', '/api/v1/tenants/team-a/jobs')).status, 200);
    await shot(b, 'access');
    await b.page.reload();
    await b.page.getByRole('button', { name: 'revoke token ci-token' }).waitFor();
    assert.ok(!(await b.page.content()).includes(shown), 'shown once: not after a reload');
    await b.page.getByRole('button', { name: 'revoke token ci-token' }).click();
    // ci-token's own row says revoked (another token revoked earlier in the run would match /^revoked / at once).
    await b.page.getByRole('button', { name: 'revoke token ci-token' }).waitFor({ state: 'detached' });
    await b.page.getByText(/^revoked /).first().waitFor();
    assert.equal((await callServer(server.url, shown, 'GET', '/api/v1/tenants/team-a/jobs')).status, 401);
  });

  test("the platform admin's tenants page: tiers, status, quotas; no tenant's experiments", async () => {
    const b = await browser();
    await signInWithToken(b, adminToken);
    await b.page.waitForURL(/\/ui\/admin\/tenants$/);
    for (const slug of ['team-a', 'team-b']) await b.page.getByRole('cell', { name: slug, exact: true }).waitFor();
    await b.page.getByRole('button', { name: 'Suspend team-a' }).waitFor();
    await shot(b, 'admin-tenants');
    for (const [name, path] of Object.entries({ admin: '/ui/admin/tenants' })) {
      const found = await seriousAxeViolations(b.page);
      assert.deepEqual(found, [], `${name} ${path}`);
    }
    // The scheduler's queue and fair share: the page shows each tenant's entitled and received share as the
    // API computes them (refreshed every 5 s). Team B gets weight 3 and a job that stays queued (no
    // concurrent job allowed), so it is the one tenant with work: entitled to all of the pool.
    const quotaB = await api(adminToken, 'GET', '/api/v1/tenants/team-b/quota');
    await api(adminToken, 'PUT', '/api/v1/tenants/team-b/quota', { maxConcurrentJobs: 0, weight: 3 });
    const queuedJob = await api(tokens['team-b']!, 'POST', '/api/v1/tenants/team-b/jobs', { name: 'queued-for-the-scheduler-page', command: ['true'], resources: { cpu: 0.5, memoryMiB: 128 } });
    try {
    await b.page.getByRole('link', { name: 'Scheduler' }).click();
    await b.page.getByRole('heading', { name: 'Scheduler', level: 1 }).waitFor();
    const pct = (share: number) => `${(share * 100).toFixed(1)} %`;
    let view: any;
    await waitFor('the scheduler page to show the API\'s shares', async () => {
      view = await api(adminToken, 'GET', '/api/v1/platform/scheduler');
      for (const t of view.tenants) {
        if (await b.page.getByRole('meter', { name: `entitled share of ${t.slug}: ${pct(t.entitledShare)}` }).count() !== 1) return false;
        if (await b.page.getByRole('meter', { name: `received share of ${t.slug}: ${pct(t.cpuShare)}` }).count() !== 1) return false;
      }
      return true;
    }, 30_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify(view)}`);
    });
    assert.ok(view.tenants.some((t: { slug: string }) => t.slug === 'team-a') && view.tenants.some((t: { slug: string }) => t.slug === 'team-b'));
    assert.equal(await b.page.locator('tbody tr[data-tenant]').count(), view.tenants.length);
    const rowB = view.tenants.find((t: { slug: string }) => t.slug === 'team-b');
    assert.ok(rowB.queued >= 1 && rowB.weight === 3 && rowB.entitledShare > 0, JSON.stringify(rowB));
    await b.page.getByRole('meter', { name: `entitled share of team-b: ${pct(rowB.entitledShare)}` }).waitFor();
    assert.deepEqual(await seriousAxeViolations(b.page), [], 'scheduler page');
    await shot(b, 'admin-scheduler');
    } finally {
      await api(tokens['team-b']!, 'POST', `/api/v1/tenants/team-b/jobs/${queuedJob.id}/cancel`);
      await api(adminToken, 'PUT', '/api/v1/tenants/team-b/quota', { maxConcurrentJobs: quotaB.maxConcurrentJobs, weight: quotaB.weight });
    }
    await b.page.goto(`${server.url}/ui/t/team-a/experiments`);
    await b.page.getByRole('alert').filter({ hasText: /not found/i }).waitFor();
    assert.ok(!(await b.page.locator('main').innerText()).includes('churn-model'));
  });

  test('the main pages have no serious or critical accessibility violation (axe-core), in both themes', async () => {
    const b = browsers[0]!;
    const pages = {
      experiments: '/ui/t/team-a/experiments',
      runs: `/ui/t/team-a/experiments/${ids.experiment}`,
      run: `/ui/t/team-a/runs/${ids.runs[0]}`,
      jobs: '/ui/t/team-a/jobs',
      models: '/ui/t/team-a/models',
      datasets: '/ui/t/team-a/datasets',
      access: '/ui/t/team-a/access',
      deployments: '/ui/t/team-a/deployments',
      usage: '/ui/t/team-a/usage',
      audit: '/ui/t/team-a/audit',
    };
    const found: string[] = [];
    for (const theme of ['light', 'dark']) {
      for (const [name, path] of Object.entries(pages)) {
        await b.page.goto(`${server.url}${path}`);
        await b.page.getByRole('heading', { level: 1 }).waitFor();
        await b.page.locator('.loading').first().waitFor({ state: 'detached' }).catch(() => {});
        const current = await b.page.evaluate(() => document.documentElement.getAttribute('data-theme'));
        if (current !== theme) await b.page.getByRole('button', { name: /theme/ }).click();
        if (theme === 'light' && (name === 'usage' || name === 'audit' || name === 'jobs')) await shot(b, name);
        for (const v of await seriousAxeViolations(b.page)) found.push(`${theme} ${name}: ${v.id} (${v.impact}) ${v.help} ${v.nodes.slice(0, 3).join(' ')}`);
      }
    }
    assert.deepEqual(found, []);
    assert.deepEqual(b.dialogs, []);
    assert.deepEqual(await b.violations(), []);
  });

  test('the server logs (at info) carry neither the token, the session cookie nor the CSRF token', async () => {
    const signIn = await fetch(`${server.url}/ui/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: tokens['team-a'] }) });
    assert.equal(signIn.status, 201);
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const { csrf } = (await signIn.json()) as { csrf: string };
    assert.equal((await fetch(`${server.url}/api/v1/tenants/team-a/jobs`, { headers: { cookie } })).status, 200);
    const out = await fetch(`${server.url}/ui/api/session`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf } });
    assert.equal(out.status, 204);
    const requestId = out.headers.get('x-request-id')!;
    await waitFor('the sign-out request in the log', () => server.output().includes(requestId), 30_000);
    const logs = server.output();
    assert.ok(logs.includes('/ui/api/session'), 'the requests are logged');
    for (const secret of [tokens['team-a']!, cookie.split('=')[1]!, csrf]) assert.ok(!logs.includes(secret), 'a secret is in the log');
  });

  test('the API the console uses answers a stranger with 401, never data', async () => {
    const response = await callServer(server.url, undefined, 'GET', '/api/v1/tenants/team-a/jobs');
    assert.equal(response.status, 401);
  });
});
