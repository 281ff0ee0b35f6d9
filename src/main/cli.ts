/** The `bulkhead` executable's entry point: wires the CLI to the real server and admin operations. */
import { runCli, processIo } from '../cli/index.ts';
import type { ApplyKubernetesBundle } from '../cli/index.ts';
import { adminOperations } from './admin-operations.ts';
import { runServer } from './server.ts';
import { serveModel } from './serve-model.ts';

/** `bulkhead k8s apply`: server-side apply into the cluster of the default kubeconfig (loaded only when used). */
const applyKubernetesBundle: ApplyKubernetesBundle = async (objects, target) => {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { createKubernetesClient, reconcileTenant } = await import('../executors/kubernetes/index.ts');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return reconcileTenant(createKubernetesClient(kubeConfig), objects as never, { ...target, component: 'tenant' });
};

const code = await runCli(process.argv.slice(2), { io: processIo, env: process.env, runServer, admin: adminOperations, serveModel, applyKubernetesBundle });
if (process.argv[2] !== 'up') process.exitCode = code;
else if (code !== 0) process.exit(code);
