/**
 * `bulkhead model register-from-job JOB_ID --name NAME`, `bulkhead model lineage NAME VERSION` (a tree:
 * job, run, code, params, datasets and the other model versions from each) and `bulkhead dataset lineage
 * NAME:VERSION` (the jobs and model versions that came from a dataset version). They join the `model`
 * and `dataset` command groups of the tracking and data modules (created here if those are absent).
 */
import type { Command } from 'commander';
import { AppError } from '../core/errors.ts';
import type { DatasetLineage, ModelLineage, RegisteredFromJob } from '../contract/lineage-views.ts';
import { formatDatasetLineage, formatModelLineage } from './lineage-output.ts';
import type { CommandContext } from './program.ts';

const group = (program: Command, name: string, description: string): Command =>
  program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);


export const registerLineageCommands = (program: Command, ctx: CommandContext): void => {
  const model = group(program, 'model', 'registered models of your tenant');
  model
    .command('register-from-job <jobId>')
    .description("register a new model version from a succeeded job's outputs (model.onnx, or model.json converted to ONNX) and record its lineage")
    .requiredOption('--name <name>', 'registered model name (created if needed)')
    .option('--path <path>', 'the output to register (default: model.onnx, else model.json)')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (jobId: string, options: { name: string; path?: string; tenant?: string }) => {
      const tenant = await ctx.resolveTenant(options.tenant);
      const body = { name: options.name, ...(options.path === undefined ? {} : { path: options.path }) };
      const registered = await ctx.client().request<RegisteredFromJob>('POST', `${ctx.tenantPath(tenant)}/jobs/${encodeURIComponent(jobId)}/register-model`, body);
      ctx.print(registered, () => [
        `registered ${registered.model.name} version ${registered.model.version}`,
        `  source ${registered.model.source}${registered.converted ? ' (converted from model.json)' : ''}`,
        formatModelLineage(registered.lineage),
      ].join('\n'));
    });
  model
    .command('lineage <name> <version>')
    .description('where a model version came from: job, run, code digest, params, dataset versions')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (name: string, version: string, options: { tenant?: string }) => {
      const tenant = await ctx.resolveTenant(options.tenant);
      const lineage = await ctx.client().request<ModelLineage>('GET', `${ctx.tenantPath(tenant)}/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/lineage`);
      ctx.print(lineage, () => formatModelLineage(lineage));
    });

  const dataset = group(program, 'dataset', 'versioned, immutable datasets');
  dataset
    .command('lineage <ref>')
    .description('what came from a dataset version (NAME:VERSION): the jobs that read it and the model versions they produced')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (ref: string, options: { tenant?: string }) => {
      const match = /^(.+):(\d+)$/.exec(ref);
      if (match === null) throw new AppError('VALIDATION_FAILED', `expected NAME:VERSION, e.g. churn:1 (got '${ref.slice(0, 100)}')`);
      const tenant = await ctx.resolveTenant(options.tenant);
      const lineage = await ctx.client().request<DatasetLineage>('GET', `${ctx.tenantPath(tenant)}/datasets/${encodeURIComponent(match[1]!)}/versions/${match[2]!}/lineage`);
      ctx.print(lineage, () => formatDatasetLineage(lineage));
    });
};
