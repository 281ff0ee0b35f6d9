import type { Command } from 'commander';
import { AppError } from '../core/errors.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { CommandContext } from './program.ts';
import { keyValues, table } from './output.ts';

/** MLflow's error codes in the platform's vocabulary, so the CLI prints and exits like every other command. */
const fromMlflowCode: Record<string, ErrorCode> = {
  RESOURCE_DOES_NOT_EXIST: 'NOT_FOUND',
  RESOURCE_ALREADY_EXISTS: 'CONFLICT',
  INVALID_PARAMETER_VALUE: 'VALIDATION_FAILED',
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PERMISSION_DENIED: 'FORBIDDEN',
  TEMPORARILY_UNAVAILABLE: 'UNAVAILABLE',
  REQUEST_LIMIT_EXCEEDED: 'RATE_LIMITED',
};

type Json = Record<string, any>;

/**
 * Calls the MLflow REST API with the CLI's URL and token (the token picks the tenant). GET fields go in
 * the query string, others in a JSON body, as MLflow's own clients do.
 */
const mlflowCall = async (ctx: CommandContext, method: 'GET' | 'POST', path: string, input: Record<string, unknown> = {}): Promise<Json> => {
  const { url, token } = ctx.settings();
  if (url === undefined) throw new AppError('VALIDATION_FAILED', 'no API URL: pass --url, set BULKHEAD_URL, or run `bulkhead login`');
  if (token === undefined) throw new AppError('UNAUTHENTICATED', 'no token: pass --token, set BULKHEAD_TOKEN, or run `bulkhead login`');
  const target = new URL(`/api/2.0/mlflow/${path}`, url);
  if (method === 'GET') {
    for (const [key, value] of Object.entries(input)) {
      for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) target.searchParams.append(key, String(item));
    }
  }
  let response: Response;
  try {
    response = await fetch(target, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
      ...(method === 'GET' ? {} : { body: JSON.stringify(input) }),
    });
  } catch (error) {
    throw new AppError('UNAVAILABLE', `cannot reach the Bulkhead API at ${url}: ${(error as Error).message}`);
  }
  const text = await response.text();
  let parsed: Json = {};
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Json);
  } catch {
    parsed = {};
  }
  if (!response.ok) {
    const code = fromMlflowCode[String(parsed['error_code'] ?? parsed['code'])] ?? 'INTERNAL';
    throw new AppError(code, typeof parsed['message'] === 'string' ? parsed['message'] : `HTTP ${response.status}`);
  }
  return parsed;
};

const time = (ms: unknown): string => (typeof ms === 'number' ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-');

/** An experiment by id (digits) or by name. */
const getExperiment = async (ctx: CommandContext, ref: string): Promise<Json> =>
  /^\d+$/.test(ref)
    ? (await mlflowCall(ctx, 'GET', 'experiments/get', { experiment_id: ref }))['experiment']
    : (await mlflowCall(ctx, 'GET', 'experiments/get-by-name', { experiment_name: ref }))['experiment'];

const tagsOf = (entity: Json): string => (entity['tags'] as { key: string; value: string }[] | undefined ?? []).map((t) => `${t.key}=${t.value}`).join(', ');

/**
 * `bulkhead experiment|run|model ...`: tracking and registry for people without the MLflow client,
 * over the same MLflow REST API (so the same rules, limits and tenant isolation apply).
 */
export const registerTrackingCommands = (program: Command, ctx: CommandContext): void => {
  const experiment = program.command('experiment').description("your tenant's MLflow experiments");
  experiment
    .command('list')
    .description('list experiments')
    .option('--all', 'include deleted experiments')
    .option('--filter <filter>', "MLflow search filter, e.g. \"name LIKE 'fraud%'\"")
    .action(async (options: { all?: boolean; filter?: string }) => {
      const experiments: Json[] = [];
      let pageToken: string | undefined;
      do {
        const page = await mlflowCall(ctx, 'POST', 'experiments/search', { view_type: options.all === true ? 'ALL' : 'ACTIVE_ONLY', filter: options.filter, page_token: pageToken, max_results: 1000 });
        experiments.push(...((page['experiments'] as Json[] | undefined) ?? []));
        pageToken = page['next_page_token'] as string | undefined;
      } while (pageToken !== undefined);
      ctx.print(experiments, () => table(experiments.map((e) => ({ ...e, created: time(e['creation_time']) })), ['experiment_id', 'name', 'lifecycle_stage', 'created']));
    });
  experiment
    .command('create <name>')
    .description('create an experiment')
    .action(async (name: string) => {
      const created = await mlflowCall(ctx, 'POST', 'experiments/create', { name });
      ctx.print(created, () => `created experiment ${String(created['experiment_id'])} (${name})`);
    });
  experiment
    .command('show <experiment>')
    .description('show an experiment (id or name)')
    .action(async (ref: string) => {
      const e = await getExperiment(ctx, ref);
      ctx.print(e, () => keyValues({ id: e['experiment_id'], name: e['name'], stage: e['lifecycle_stage'], artifacts: e['artifact_location'], created: time(e['creation_time']), updated: time(e['last_update_time']), tags: tagsOf(e) }));
    });
  experiment
    .command('delete <experiment>')
    .description('delete an experiment and its runs (id or name; restorable through the MLflow API)')
    .action(async (ref: string) => {
      const e = await getExperiment(ctx, ref);
      await mlflowCall(ctx, 'POST', 'experiments/delete', { experiment_id: e['experiment_id'] });
      ctx.print({ experiment_id: e['experiment_id'], deleted: true }, () => `deleted experiment ${String(e['experiment_id'])} (${String(e['name'])})`);
    });

  const run = program.command('run').description('runs of your experiments');
  run
    .command('list')
    .description('list the runs of an experiment, newest first')
    .requiredOption('--experiment <experiment>', 'experiment id or name')
    .option('--filter <filter>', "MLflow search filter, e.g. \"metrics.auc > 0.9 and params.model = 'cnn'\"")
    .option('--order-by <clause...>', "e.g. 'metrics.auc DESC'")
    .option('--max <n>', 'at most this many runs', Number, 100)
    .option('--all', 'include deleted runs')
    .action(async (options: { experiment: string; filter?: string; orderBy?: string[]; max: number; all?: boolean }) => {
      const e = await getExperiment(ctx, options.experiment);
      const page = await mlflowCall(ctx, 'POST', 'runs/search', {
        experiment_ids: [e['experiment_id']], filter: options.filter, order_by: options.orderBy, max_results: options.max, run_view_type: options.all === true ? 'ALL' : 'ACTIVE_ONLY',
      });
      const runs = (page['runs'] as Json[] | undefined) ?? [];
      ctx.print(runs, () => table(runs.map((r) => ({
        run_id: r['info']['run_id'], name: r['info']['run_name'], status: r['info']['status'], started: time(r['info']['start_time']),
        metrics: (r['data']['metrics'] as Json[]).map((m) => `${String(m['key'])}=${String(m['value'])}`).join(' '),
      })), ['run_id', 'name', 'status', 'started', 'metrics']));
    });
  run
    .command('show <runId>')
    .description('show a run: info, latest metrics, params, tags')
    .action(async (runId: string) => {
      const r = (await mlflowCall(ctx, 'GET', 'runs/get', { run_id: runId }))['run'] as Json;
      ctx.print(r, () => [
        keyValues({ run_id: r['info']['run_id'], name: r['info']['run_name'], experiment: r['info']['experiment_id'], status: r['info']['status'], stage: r['info']['lifecycle_stage'], started: time(r['info']['start_time']), ended: time(r['info']['end_time']), artifacts: r['info']['artifact_uri'] }),
        '',
        'metrics:',
        table(r['data']['metrics'] as Json[], ['key', 'value', 'step', 'timestamp']),
        '',
        'params:',
        table(r['data']['params'] as Json[], ['key', 'value']),
        '',
        'tags:',
        table(r['data']['tags'] as Json[], ['key', 'value']),
      ].join('\n'));
    });
  run
    .command('delete <runId>')
    .description('delete a run (restorable through the MLflow API)')
    .action(async (runId: string) => {
      await mlflowCall(ctx, 'POST', 'runs/delete', { run_id: runId });
      ctx.print({ run_id: runId, deleted: true }, () => `deleted run ${runId}`);
    });

  const model = program.command('model').description('registered models of your tenant');
  model
    .command('list')
    .description('list registered models')
    .option('--filter <filter>', "e.g. \"name LIKE 'churn%'\"")
    .action(async (options: { filter?: string }) => {
      const models: Json[] = [];
      let pageToken: string | undefined;
      do {
        const page = await mlflowCall(ctx, 'GET', 'registered-models/search', { filter: options.filter, page_token: pageToken, max_results: 1000 });
        models.push(...((page['registered_models'] as Json[] | undefined) ?? []));
        pageToken = page['next_page_token'] as string | undefined;
      } while (pageToken !== undefined);
      ctx.print(models, () => table(models.map((m) => ({
        name: m['name'], updated: time(m['last_updated_timestamp']),
        latest: (m['latest_versions'] as Json[]).map((v) => `v${String(v['version'])}:${String(v['current_stage'])}`).join(' '),
        aliases: (m['aliases'] as Json[]).map((a) => `${String(a['alias'])}→v${String(a['version'])}`).join(' '),
      })), ['name', 'latest', 'aliases', 'updated']));
    });
  model
    .command('show <name>')
    .description('show a registered model')
    .action(async (name: string) => {
      const m = (await mlflowCall(ctx, 'GET', 'registered-models/get', { name }))['registered_model'] as Json;
      ctx.print(m, () => keyValues({
        name: m['name'], description: m['description'], created: time(m['creation_timestamp']), updated: time(m['last_updated_timestamp']), tags: tagsOf(m),
        aliases: (m['aliases'] as Json[]).map((a) => `${String(a['alias'])}→v${String(a['version'])}`).join(', '),
      }));
    });
  model
    .command('versions <name>')
    .description('list the versions of a registered model')
    .action(async (name: string) => {
      const escaped = name.replaceAll("'", "''");
      const page = await mlflowCall(ctx, 'GET', 'model-versions/search', { filter: `name = '${escaped}'`, order_by: ['version_number DESC'], max_results: 1000 });
      const versions = (page['model_versions'] as Json[] | undefined) ?? [];
      ctx.print(versions, () => table(versions.map((v) => ({ ...v, aliases: (v['aliases'] as string[]).join(' '), created: time(v['creation_timestamp']) })), ['version', 'current_stage', 'aliases', 'source', 'run_id', 'created']));
    });
};
