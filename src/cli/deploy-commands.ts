import type { Command } from 'commander';
import type { CommandContext } from './program.ts';
import { keyValues, table } from './output.ts';

interface DeploymentView {
  id: string;
  name: string;
  model: string;
  version: string;
  replicas: number;
  status: string;
  reason?: string;
  replicaStatus: Array<{ id: string; version: string; state: string; restarts: number; lastExit?: { reason: string; at: string } }>;
  [key: string]: unknown;
}

/** `bulkhead deploy create|update|scale|delete|status|list|logs`, for the tenant given by --tenant. */
export const registerDeployCommands = (program: Command, ctx: CommandContext): void => {
  const deploy = program.command('deploy').description('serve registered ONNX models over the Open Inference Protocol v2');
  const base = async (tenant: string | undefined) => `${ctx.tenantPath(await ctx.resolveTenant(tenant))}/deployments`;
  const show = (d: DeploymentView) => ctx.print(d, () => [
    keyValues({ name: d.name, model: `${d.model} version ${d.version}`, status: d.status + (d.reason === undefined ? '' : ` (${d.reason})`), replicas: d.replicas }),
    table(d.replicaStatus.map((r) => ({ replica: r.id, version: r.version, state: r.state, restarts: r.restarts, 'last exit': r.lastExit?.reason ?? '' })), ['replica', 'version', 'state', 'restarts', 'last exit']),
  ].join('\n'));

  deploy.command('create')
    .description('bulkhead deploy create NAME --tenant acme --model m --version 3 [--replicas 1 --cpu 1 --memory 1024 --max-concurrency 8]')
    .option('--tenant <slug>', "tenant (default: the token's)").requiredOption('--model <name>', 'registered model').requiredOption('--version <n>', 'model version')
    .option('--replicas <n>', 'worker processes', Number, 1).option('--cpu <cores>', 'CPU per replica', Number, 1)
    .option('--memory <mib>', 'memory per replica (MiB)', Number, 1024).option('--max-concurrency <n>', 'requests in flight per deployment', Number, 8)
    .option('--image <ref>', "run the workers on an OCI image (name:tag or name@sha256:…) instead of the host's /usr")
    .argument('<name>')
    .action(async (name: string, o: { tenant?: string; model: string; version: string; replicas: number; cpu: number; memory: number; maxConcurrency: number; image?: string }) => {
      show(await ctx.client().request<DeploymentView>('POST', (await base(o.tenant)), {
        name, model: o.model, version: o.version, replicas: o.replicas, resources: { cpu: o.cpu, memoryMiB: o.memory }, maxConcurrency: o.maxConcurrency,
        ...(o.image === undefined ? {} : { image: o.image }),
      }));
    });
  deploy.command('update').description('roll to another model version with no failed requests')
    .option('--tenant <slug>', "tenant (default: the token's)").requiredOption('--version <n>', 'model version').argument('<name>')
    .action(async (name: string, o: { tenant?: string; version: string }) => show(await ctx.client().request<DeploymentView>('PATCH', `${(await base(o.tenant))}/${encodeURIComponent(name)}`, { version: o.version })));
  deploy.command('scale').description('change the number of replicas')
    .option('--tenant <slug>', "tenant (default: the token's)").requiredOption('--replicas <n>', 'replicas', Number).argument('<name>')
    .action(async (name: string, o: { tenant?: string; replicas: number }) => show(await ctx.client().request<DeploymentView>('PATCH', `${(await base(o.tenant))}/${encodeURIComponent(name)}`, { replicas: o.replicas })));
  deploy.command('delete').description('delete a deployment (replicas drain, then stop)')
    .option('--tenant <slug>', "tenant (default: the token's)").argument('<name>')
    .action(async (name: string, o: { tenant?: string }) => {
      await ctx.client().request('DELETE', `${(await base(o.tenant))}/${encodeURIComponent(name)}`);
      ctx.print({ deleted: name }, () => `deleted ${name}`);
    });
  deploy.command('status').description('status, replicas, restarts and last exit reason')
    .option('--tenant <slug>', "tenant (default: the token's)").argument('<name>')
    .action(async (name: string, o: { tenant?: string }) => show(await ctx.client().request<DeploymentView>('GET', `${(await base(o.tenant))}/${encodeURIComponent(name)}`)));
  deploy.command('list').description("the tenant's deployments").option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (o: { tenant?: string }) => {
      const { deployments } = await ctx.client().request<{ deployments: DeploymentView[] }>('GET', (await base(o.tenant)));
      ctx.print({ deployments }, () => table(deployments, ['name', 'model', 'version', 'replicas', 'status']));
    });
  deploy.command('logs').description('worker output and supervisor events').option('--tenant <slug>', "tenant (default: the token's)").argument('<name>')
    .action(async (name: string, o: { tenant?: string }) => {
      const text = await ctx.client().request<unknown>('GET', `${(await base(o.tenant))}/${encodeURIComponent(name)}/logs`);
      ctx.io.out(typeof text === 'string' ? text : JSON.stringify(text));
    });
};
