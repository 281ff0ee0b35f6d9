import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { AppError } from '../core/errors.ts';
import type { CommandContext } from './program.ts';

/**
 * `bulkhead k8s render|apply`: the tenant bundle comes from the API (rendered from the tenant's record and
 * quota); `apply` reconciles it against the cluster of the local kubeconfig with server-side apply.
 */
export const registerKubernetesCommands = (program: Command, ctx: CommandContext): void => {
  const k8s = program.command('k8s').description("render or apply a tenant's Kubernetes bundle (platform admin)");

  const fetchBundle = async (slug: string, jobId?: string): Promise<string> => {
    const settings = ctx.settings();
    if (settings.url === undefined || settings.token === undefined) throw new AppError('VALIDATION_FAILED', 'no API URL or token: pass --url/--token or run `bulkhead login`');
    const path = jobId === undefined ? `${ctx.tenantPath(slug)}/kubernetes/bundle` : `${ctx.tenantPath(slug)}/kubernetes/jobs/${encodeURIComponent(jobId)}`;
    const response = await fetch(new URL(path, settings.url), { headers: { authorization: `Bearer ${settings.token}` } });
    const text = await response.text();
    if (!response.ok) {
      const body = JSON.parse(text) as { code?: string; message?: string };
      throw new AppError(response.status === 404 ? 'NOT_FOUND' : response.status === 403 ? 'FORBIDDEN' : 'INTERNAL', body.message ?? `HTTP ${response.status}`);
    }
    return text;
  };

  k8s
    .command('render <tenant>')
    .description("print the tenant bundle (or, with --job, a job's manifest) as multi-document YAML (no cluster needed)")
    .option('--job <id>', "render this job's batch/v1 Job instead of the tenant bundle")
    .action(async (slug: string, options: { job?: string }) => {
      ctx.io.out(await fetchBundle(slug, options.job));
    });

  k8s
    .command('apply <tenant>')
    .description('reconcile the tenant bundle into the cluster of the current kubeconfig (server-side apply, prunes what the tenant no longer needs)')
    .option('--dry-run', 'ask the API server to validate without persisting')
    .action(async (slug: string, options: { dryRun?: boolean }) => {
      const objects = parseAllDocuments(await fetchBundle(slug)).map((doc) => doc.toJS() as { metadata?: { namespace?: string; labels?: Record<string, string> } });
      const namespaced = objects.find((obj) => obj.metadata?.namespace !== undefined);
      const tenantId = objects.map((obj) => obj.metadata?.labels?.['bulkhead.dev/tenant-id']).find((id) => id !== undefined);
      if (namespaced?.metadata?.namespace === undefined || tenantId === undefined) throw new AppError('INTERNAL', 'the bundle has no namespaced, tenant-labelled objects');
      if (ctx.applyKubernetesBundle === undefined) throw new AppError('UNAVAILABLE', 'this bulkhead executable cannot reach a cluster');
      const result = await ctx.applyKubernetesBundle(objects, { tenantId, namespace: namespaced.metadata.namespace, dryRun: options.dryRun === true });
      ctx.print(result, () => JSON.stringify(result, null, 2));
    });
};
