/**
 * Makes a benchmark that hosts a platform in its own process run that platform as `bulkhead up` runs it:
 * with the server's start-up node flags (re-running this script under them when it was started without
 * them) and its run-time V8 flags. Without them the benchmark would measure garbage-collection behaviour
 * production does not have (server-node-flags.ts: a full mark-compact every ≈ 0.25 s under 20 inference
 * requests a second of 0.94 MB bodies, on the thread every tenant shares).
 *
 * Import it first, before any module of the platform, so the re-run starts before they load.
 */
import { spawnSync } from 'node:child_process';
import { SERVER_NODE_FLAGS, applyServerRuntimeFlags } from '../../src/main/server-node-flags.ts';

const missing = SERVER_NODE_FLAGS.filter((flag) => !process.execArgv.includes(flag));
if (missing.length > 0) {
  const rerun = spawnSync(process.execPath, [...missing, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(rerun.status ?? 1);
}
applyServerRuntimeFlags();
