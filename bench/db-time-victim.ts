/**
 * The victim's clients for bench/db-time.ts with `--victim-client thread`: run in a worker thread, so that
 * V's own client work (building requests, reading responses) is not done on the event loop that serves
 * the platform — as it would not be with V on another machine. `workerData`: { url, viewerToken,
 * memberToken, runId }. On { phase: 'alone' | 'flood', seconds } it runs one client per operation
 * (`runs/get`, `log-batch` of 10 metrics, `/healthz`), each back to back, for that long, then posts
 * { latencies: Record<op, number[]>, errors }. On 'stop' it exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createBenchClient } from './support/http-client.ts';

const data = workerData as { url: string; viewerToken: string; memberToken: string; runId: string };
const viewer = createBenchClient(data.url, data.viewerToken, 2);
const member = createBenchClient(data.url, data.memberToken, 2);
const anonymous = createBenchClient(data.url, '', 1);
type Op = 'runs/get' | 'log-batch' | '/healthz';
const ops: Op[] = ['runs/get', 'log-batch', '/healthz'];
let step = 1_000_000;

const call = async (op: Op): Promise<number> => {
  switch (op) {
    case 'runs/get':
      return (await viewer.request('GET', `/api/2.0/mlflow/runs/get?run_id=${data.runId}`)).status;
    case 'log-batch':
      step += 1;
      return (await member.request('POST', '/api/2.0/mlflow/runs/log-batch', JSON.stringify({
        run_id: data.runId, metrics: Array.from({ length: 10 }, (_, i) => ({ key: `m${i}`, value: Math.random(), timestamp: Date.now(), step })),
      }))).status;
    case '/healthz':
      return (await anonymous.request('GET', '/healthz')).status;
  }
};

parentPort?.on('message', (message: { phase: string; seconds: number } | 'stop') => {
  if (message === 'stop') {
    viewer.close();
    member.close();
    anonymous.close();
    parentPort?.close();
    return;
  }
  const until = performance.now() + message.seconds * 1000;
  const latencies: Record<Op, number[]> = { 'runs/get': [], 'log-batch': [], '/healthz': [] };
  let errors = 0;
  void Promise.all(ops.map(async (op) => {
    while (performance.now() < until) {
      const t0 = performance.now();
      const status = await call(op).catch(() => 0);
      latencies[op].push(performance.now() - t0);
      if (status !== 200) errors += 1;
    }
  })).then(() => parentPort?.postMessage({ latencies, errors }));
});
