/**
 * The web console in Chromium against the same data fetched by curl, side by side on one server
 * (`bulkhead up` on PGlite, a child process):
 *
 *   runs table   a 10,000-run experiment (3 params, 2 metrics, 1 tag each): from navigation start to the
 *                first page's 100 rows on screen and a row checkbox answering a click (the table is
 *                interactive), against curl's time for the same runs/search request (100 runs).
 *                And one page of 5,000 runs (rows virtualized), the same way.
 *   chart        a 100,000-point metric: from navigation start to the chart drawn, and the draw alone
 *                (data in hand → uPlot's first draw, measured in the page), against curl's time for the
 *                same get-history pages (4 × 25,000 points).
 * Goals (issue 11): runs table interactive ≤ 1.5 s; chart drawn ≤ 500 ms after its data arrives.
 *
 * Usage: node bench/console.ts [--rounds 5] [--runs 10000] [--points 100000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mustServer, startServerProcess } from '../test/support/server-process.ts';
import { openBrowser } from '../test/support/browser.ts';

declare const document: any;
declare const performance: { now(): number };

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, runs: { type: 'string', default: '10000' }, points: { type: 'string', default: '100000' } } });
const rounds = Number(values.rounds);
const runCount = Number(values.runs);
const pointCount = Number(values.points);
const adminToken = `bh_bench-console-admin-${'c'.repeat(32)}`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const home = mkdtempSync(join(tmpdir(), 'bulkhead-bench-console-'));
const server = await startServerProcess({ BULKHEAD_HOME: home, BULKHEAD_BOOTSTRAP_TOKEN: adminToken, BULKHEAD_LOG_LEVEL: 'error' }, 120_000);
const browser = await openBrowser();
try {
  await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants', { slug: 'bench', name: 'Bench', tier: 'process' });
  await mustServer(server.url, adminToken, 'PUT', '/api/v1/tenants/bench/quota', { requestsPerSecond: 100_000 }).catch(() => undefined);
  const token = (await mustServer(server.url, adminToken, 'POST', '/api/v1/tenants/bench/tokens', { name: 'bench', role: 'admin' })).token as string;
  const call = (method: string, path: string, body?: unknown) => mustServer(server.url, token, method, path, body);

  const seedStart = Date.now();
  const experiment = (await call('POST', '/api/2.0/mlflow/experiments/create', { name: 'bench-10k' })).experiment_id as string;
  let next = 0;
  const t0 = Date.parse('2026-12-01T00:00:00Z');
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = next++; i < runCount; i = next++) {
      const run = (await call('POST', '/api/2.0/mlflow/runs/create', { experiment_id: experiment, run_name: `run-${i}`, start_time: t0 + i })).run;
      await call('POST', '/api/2.0/mlflow/runs/log-batch', {
        run_id: run.info.run_id,
        params: [{ key: 'lr', value: String(i % 7) }, { key: 'layers', value: String(i % 5) }, { key: 'seed', value: String(i) }],
        metrics: [{ key: 'loss', value: 1 / (1 + i), timestamp: t0, step: 0 }, { key: 'acc', value: i / runCount, timestamp: t0, step: 0 }],
        tags: [{ key: 'group', value: `g${i % 10}` }],
      });
    }
  }));
  const long = (await call('POST', '/api/2.0/mlflow/runs/create', { experiment_id: experiment, run_name: 'long', start_time: t0 })).run.info.run_id as string;
  for (let start = 0; start < pointCount; start += 1000) {
    const metrics = Array.from({ length: Math.min(1000, pointCount - start) }, (_, j) => ({ key: 'loss', value: Math.sin((start + j) / 500) + (start + j) / pointCount, timestamp: t0 + start + j, step: start + j }));
    await call('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: long, metrics });
  }
  process.stdout.write(`seeded ${runCount} runs and ${pointCount} points in ${((Date.now() - seedStart) / 1000).toFixed(1)} s\n`);

  const curl = (method: string, path: string, body?: string): number => Number(execFileSync('curl', [
    '-s', '-o', '/dev/null', '-w', '%{time_total}', '-X', method, '-H', `authorization: Bearer ${token}`,
    ...(body === undefined ? [] : ['-H', 'content-type: application/json', '--data', body]), `${server.url}${path}`,
  ], { encoding: 'utf8' })) * 1000;

  const { page } = browser;
  await page.goto(`${server.url}/ui/`);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in with token' }).click();
  await page.waitForURL(/\/experiments$/);

  const table: number[] = [];
  const tableCurl: number[] = [];
  const big: number[] = [];
  const bigCurl: number[] = [];
  const bigSize = Math.min(5000, runCount);
  const chartTotal: number[] = [];
  const chartDraw: number[] = [];
  const chartCurl: number[] = [];
  const searchBody = JSON.stringify({ experiment_ids: [experiment], filter: '', max_results: 100, order_by: ['attributes.start_time DESC'] });
  for (let round = 0; round < rounds; round += 1) {
    tableCurl.push(curl('POST', '/api/2.0/mlflow/runs/search', searchBody));
    await page.goto(`${server.url}/ui/t/bench/experiments/${experiment}`);
    await page.locator('table.runs tbody tr:nth-child(100)').waitFor();
    await page.locator('table.runs tbody tr:nth-child(1) input[type=checkbox]').click();
    await page.getByRole('button', { name: 'Compare selected (1)' }).waitFor();
    table.push(await page.evaluate(() => performance.now()));

    // The largest page (5,000 runs, rows virtualized): the same, against curl for the same search.
    bigCurl.push(curl('POST', '/api/2.0/mlflow/runs/search', JSON.stringify({ experiment_ids: [experiment], filter: '', max_results: bigSize, order_by: ['attributes.start_time DESC'] })));
    await page.goto(`${server.url}/ui/t/bench/experiments/${experiment}?size=${bigSize}`);
    await page.getByText(`${bigSize} runs on this page`).waitFor({ timeout: 60_000 });
    await page.locator('table.runs tbody tr:not(.spacer) input[type=checkbox]').first().click();
    await page.getByRole('button', { name: 'Compare selected (1)' }).waitFor();
    big.push(await page.evaluate(() => performance.now()));

    let fetched = 0;
    for (let token_ = ''; ;) {
      const started = Date.now();
      const body = execFileSync('curl', ['-s', '-H', `authorization: Bearer ${token}`, `${server.url}/api/2.0/mlflow/metrics/get-history?run_id=${long}&metric_key=loss&max_results=25000${token_ === '' ? '' : `&page_token=${token_}`}`], { encoding: 'utf8', maxBuffer: 1 << 28 });
      fetched += Date.now() - started;
      const parsed = JSON.parse(body) as { next_page_token?: string };
      if (parsed.next_page_token === undefined || parsed.next_page_token === '') break;
      token_ = parsed.next_page_token;
    }
    chartCurl.push(fetched);
    await page.goto(`${server.url}/ui/t/bench/runs/${long}`);
    const chart = page.getByRole('img', { name: 'loss chart' });
    await page.waitForFunction(() => document.querySelector('[aria-label="loss chart"]')?.dataset.drawMs !== undefined, undefined, { timeout: 60_000 });
    chartTotal.push(await page.evaluate(() => performance.now()));
    chartDraw.push(Number(await chart.getAttribute('data-draw-ms')));
    if ((await chart.getAttribute('data-points')) !== String(pointCount)) throw new Error(`chart has ${await chart.getAttribute('data-points')} points`);
  }
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  process.stdout.write(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}; Chromium ${browser.context.browser()?.version() ?? execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).trim()}; ${rounds} rounds, medians\n`);
  process.stdout.write(`runs table (${runCount} runs, first page of 100): navigation → 100 rows + click answered ${ms(median(table))}; curl runs/search ${ms(median(tableCurl))}; ratio ${(median(table) / median(tableCurl)).toFixed(1)}×\n`);
  process.stdout.write(`runs table, one page of ${bigSize} (virtualized): navigation → rows + click answered ${ms(median(big))}; curl runs/search ${ms(median(bigCurl))}; ratio ${(median(big) / median(bigCurl)).toFixed(1)}×\n`);
  process.stdout.write(`chart (${pointCount} points): navigation → drawn ${ms(median(chartTotal))}; draw after data ${ms(median(chartDraw))}; curl get-history (all pages) ${ms(median(chartCurl))}; ratio total/curl ${(median(chartTotal) / median(chartCurl)).toFixed(1)}×\n`);
} finally {
  await browser.close();
  await server.kill('SIGTERM');
  rmSync(home, { recursive: true, force: true });
}
