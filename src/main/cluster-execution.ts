/**
 * Adapts the kubernetes module to the job runner's `ClusterExecution` port (BULKHEAD_EXECUTOR=kubernetes):
 * the cluster is the one in the default kubeconfig (`KUBECONFIG`, `~/.kube/config`, or the in-cluster
 * service account), tenants are reconciled into their namespace bundle before their first job (and again
 * after a quota change), and jobs run through the cluster job executor.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  buildTenantBundle,
  createClusterJobExecutor,
  createKubernetesClient,
  clusterJobSpecOf,
  createPodLogSource,
  KUEUE_ADMITTED_REASON,
  reconcileTenant,
  tenantNamespace,
  tenantSpecOf,
} from '../executors/kubernetes/index.ts';
import type { ClusterConfig, KubernetesClient } from '../executors/kubernetes/index.ts';
import type { ClusterExecution } from '../jobs/index.ts';

export interface ClusterBackend {
  client: KubernetesClient;
  execution: ClusterExecution;
}

/** Loads the default kubeconfig; throws when there is none. */
export const loadKubeConfig = async (): Promise<KubeConfig> => {
  const { KubeConfig: Loader } = await import('@kubernetes/client-node');
  const kubeConfig = new Loader();
  kubeConfig.loadFromDefault();
  if (kubeConfig.getCurrentCluster() === null) {
    throw new Error('BULKHEAD_EXECUTOR=kubernetes needs a cluster: set KUBECONFIG, or run in a pod with a service account');
  }
  return kubeConfig;
};

export const createClusterBackend = (
  kubeConfig: KubeConfig,
  cluster: ClusterConfig,
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void },
): ClusterBackend => {
  const client = createKubernetesClient(kubeConfig);
  const executor = createClusterJobExecutor({ client, config: cluster, logs: createPodLogSource(kubeConfig), log });
  // A tenant's bundle is applied once per (tenant, quota) seen by this process; server-side apply makes a
  // repeat harmless, this only saves the round trips for every job.
  const applied = new Map<string, string>();
  return {
    client,
    execution: {
      kueue: cluster.kueue.enabled,
      async ensureTenant(tenant, quota) {
        const spec = tenantSpecOf(tenant, quota);
        const fingerprint = JSON.stringify(spec);
        if (applied.get(tenant.id) === fingerprint) return;
        await reconcileTenant(client, buildTenantBundle(spec, cluster), { tenantId: tenant.id, namespace: tenantNamespace(spec, cluster), component: 'tenant' });
        applied.set(tenant.id, fingerprint);
      },
      start({ job, tenant, quota, token, env, output, onProgress }) {
        return executor.start({
          job: clusterJobSpecOf(job, tenantSpecOf(tenant, quota), env),
          token,
          output,
          onProgress: (progress) => {
            if (progress.state === 'pending' && progress.reason === KUEUE_ADMITTED_REASON) onProgress('admitted');
            else if (progress.state === 'running') onProgress('running');
          },
        });
      },
    },
  };
};
