import type { Command } from 'commander';
import type { CommandContext } from './program.ts';
import { table } from './output.ts';

interface TreeNode {
  slug: string;
  depth: number;
  status: string;
  nominal: { cpu: number; memoryMiB: number; gpu: number };
  usage: { cpu: number; memoryMiB: number; gpu: number; runningJobs: number };
  subtreeUsage: { cpu: number; memoryMiB: number; gpu: number; runningJobs: number };
}

/** The tree as an indented table: each tenant's nominal quota, its own usage and its subtree's. */
export const describeTree = (nodes: readonly TreeNode[]): string =>
  table(nodes.map((n) => ({
    tenant: `${'  '.repeat(n.depth)}${n.depth === 0 ? '' : '└ '}${n.slug}`,
    status: n.status,
    'nominal cpu/MiB/gpu': `${n.nominal.cpu}/${n.nominal.memoryMiB}/${n.nominal.gpu}`,
    'used cpu/MiB/gpu': `${n.usage.cpu}/${n.usage.memoryMiB}/${n.usage.gpu}`,
    'subtree cpu/MiB/gpu': `${n.subtreeUsage.cpu}/${n.subtreeUsage.memoryMiB}/${n.subtreeUsage.gpu}`,
    'subtree jobs': n.subtreeUsage.runningJobs,
  })), ['tenant', 'status', 'nominal cpu/MiB/gpu', 'used cpu/MiB/gpu', 'subtree cpu/MiB/gpu', 'subtree jobs']);

/**
 * Issue 15: `bulkhead tenant tree` (a tenant and its subtree, usage rolled up) and `bulkhead share
 * create|list|revoke` (read-only shares of one tenant's objects with another tenant or organization).
 */
export const registerTenantTreeCommand = (tenant: Command, ctx: CommandContext): void => {
  tenant.command('tree [slug]').description("a tenant and its subtree (default: the token's tenant): nominal quota, usage, and usage rolled up over each subtree")
    .action(async (slug: string | undefined) => {
      const top = await ctx.resolveTenant(slug);
      const { tenants } = await ctx.client().request<{ tenants: TreeNode[] }>('GET', `${ctx.tenantPath(top)}/tree`);
      ctx.print(tenants, () => describeTree(tenants));
    });
};

export const registerOrgCommands = (program: Command, ctx: CommandContext): void => {

  const share = program.command('share').description("share one of your tenant's objects read-only with another tenant (or an organization's whole subtree); audited in both tenants' logs");
  share.command('create <resource>')
    .description('grant read access: <resource> is model:{name}/{version}; the grantee reads it as {owner}/{name} through the normal APIs (MLflow included)')
    .requiredOption('--grantee <tenant>', 'the grantee tenant (id or slug)')
    .option('--expires-at <time>', 'ISO 8601 time after which the share is dead')
    .option('--tenant <slug>', "the owner tenant (default: the token's)")
    .action(async (resource: string, options: { grantee: string; expiresAt?: string; tenant?: string }) => {
      const owner = await ctx.resolveTenant(options.tenant);
      const created = await ctx.client().request<Record<string, unknown>>('POST', `${ctx.tenantPath(owner)}/shares`, {
        resource, grantee: options.grantee, ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt }),
      });
      ctx.print(created, () => `shared ${String(created['resource'])} with ${String(created['grantee'])}: share ${String(created['id'])}`);
    });
  share.command('list').description('shares your tenant granted and those granted to it (or its organization)')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (options: { tenant?: string }) => {
      const t = await ctx.resolveTenant(options.tenant);
      const { shares } = await ctx.client().request<{ shares: Array<Record<string, unknown>> }>('GET', `${ctx.tenantPath(t)}/shares`);
      ctx.print(shares, () => table(shares, ['id', 'direction', 'owner', 'grantee', 'resource', 'active', 'expiresAt', 'revokedAt']));
    });
  share.command('revoke <id>').description("revoke one of your tenant's shares: the grantee's next read is 404")
    .option('--tenant <slug>', "the owner tenant (default: the token's)")
    .action(async (id: string, options: { tenant?: string }) => {
      const t = await ctx.resolveTenant(options.tenant);
      const revoked = await ctx.client().request<Record<string, unknown>>('DELETE', `${ctx.tenantPath(t)}/shares/${encodeURIComponent(id)}`);
      ctx.print(revoked, () => `revoked share ${String(revoked['id'])} (${String(revoked['resource'])} → ${String(revoked['grantee'])})`);
    });
};
