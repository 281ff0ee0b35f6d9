/**
 * `bulkhead dataset push|pull|list|versions` (native API) and `bulkhead artifact upload|download|list|delete`
 * (the MLflow artifact API, tenant from the token). Bodies are streamed both ways, never buffered whole;
 * push and pull show a progress bar on a terminal.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { mkdir, open, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { create as createTar } from 'tar';
import { extractBundle, isTarBundle } from '../core/code-bundle.ts';
import { AppError, isErrorCode } from '../core/errors.ts';
import { normalizeArtifactPath } from '../contract/artifact-paths.ts';
import type { CommandContext } from './program.ts';
import { table } from './output.ts';

const mlflowArtifacts = '/api/2.0/mlflow-artifacts/artifacts';
const encodePath = (path: string): string => path.split('/').map(encodeURIComponent).join('/');

/** One raw HTTP call with the CLI's URL and token; errors of either error shape become AppError. */
export const rawRequest = async (ctx: CommandContext, method: string, path: string, init: { body?: Readable; headers?: Record<string, string> } = {}): Promise<Response> => {
  const { url, token } = ctx.settings();
  if (url === undefined) throw new AppError('VALIDATION_FAILED', 'no API URL: pass --url, set BULKHEAD_URL, or run `bulkhead login`');
  if (token === undefined) throw new AppError('UNAUTHENTICATED', 'no token: pass --token, set BULKHEAD_TOKEN, or run `bulkhead login`');
  let response: Response;
  try {
    response = await fetch(new URL(path, url), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
      ...(init.body === undefined ? {} : { body: Readable.toWeb(init.body) as unknown as ReadableStream<Uint8Array>, duplex: 'half' }),
    } as RequestInit);
  } catch (error) {
    throw new AppError('UNAVAILABLE', `cannot reach the Bulkhead API at ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) {
    const text = await response.text();
    let parsed: { code?: unknown; error_code?: unknown; message?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // not JSON
    }
    const code = isErrorCode(parsed.code) ? parsed.code
      : parsed.error_code === 'RESOURCE_DOES_NOT_EXIST' ? 'NOT_FOUND'
        : parsed.error_code === 'RESOURCE_LIMIT_EXCEEDED' ? 'QUOTA_EXCEEDED'
          : parsed.error_code === 'INVALID_PARAMETER_VALUE' ? 'VALIDATION_FAILED'
            : response.status === 403 ? 'FORBIDDEN' : response.status === 401 ? 'UNAUTHENTICATED' : 'INTERNAL';
    throw new AppError(code, typeof parsed.message === 'string' ? parsed.message : `HTTP ${response.status}`);
  }
  return response;
};

const bodyOf = (response: Response): Readable => {
  if (response.body === null) return Readable.from([]);
  return Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
};


const progressBar = (ctx: CommandContext, total: number, label: string): { tick(bytes: number): void; stop(): void } => {
  if (ctx.json() || process.stderr.isTTY !== true) return { tick: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} MB`,
    stream: process.stderr,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  let bytes = 0;
  bar.start(Math.max(1, Math.round(total / 1e4) / 100), 0);
  return {
    tick(n) {
      bytes += n;
      bar.update(Math.round(bytes / 1e4) / 100);
    },
    stop: () => bar.stop(),
  };
};

const counter = (tick: (n: number) => void): Transform => new Transform({
  transform(chunk: Buffer, _encoding, callback: TransformCallback) {
    tick(chunk.length);
    callback(null, chunk);
  },
});

/** Regular files under `dir` (symlinks are not followed: the server refuses them anyway). */
const walk = async (dir: string): Promise<Array<{ path: string; size: number }>> => {
  const out: Array<{ path: string; size: number }> = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    out.push({ path: relative(dir, full).split(sep).join('/'), size: (await stat(full)).size });
  }
  return out;
};

/** Writes a stream to a new file under `root` (never through a symlink, never over an existing file). */
const writeNewFile = async (root: string, path: string, source: Readable, expectedDigest?: string): Promise<number> => {
  const safe = normalizeArtifactPath(path);
  const target = join(root, safe);
  await mkdir(dirname(target), { recursive: true });
  const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(source, new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  }), handle.createWriteStream());
  if (expectedDigest !== undefined && hash.digest('hex') !== expectedDigest) throw new AppError('INTERNAL', `${safe}: downloaded content does not match its digest`);
  return size;
};

export const registerDataCommands = (program: Command, ctx: CommandContext): void => {
  const dataset = program.command('dataset').description('versioned, immutable datasets (encrypted at rest, counted against the storage quota)');

  dataset.command('list').description('list datasets').option('--tenant <slug>', "tenant (default: the token's)").action(async (options: { tenant?: string }) => {
    const tenant = await ctx.resolveTenant(options.tenant);
    const { datasets } = await ctx.client().request<{ datasets: Array<Record<string, unknown>> }>('GET', `${ctx.tenantPath(tenant)}/datasets`);
    ctx.print(datasets, () => table(datasets, ['name', 'latestVersion', 'createdAt', 'description']));
  });

  dataset.command('versions <name>').description("list a dataset's versions").option('--tenant <slug>', "tenant (default: the token's)").action(async (name: string, options: { tenant?: string }) => {
    const tenant = await ctx.resolveTenant(options.tenant);
    const { versions } = await ctx.client().request<{ versions: Array<Record<string, unknown>> }>('GET', `${ctx.tenantPath(tenant)}/datasets/${encodeURIComponent(name)}/versions`);
    ctx.print(versions, () => table(versions, ['version', 'digest', 'fileCount', 'totalBytes', 'createdBy', 'createdAt']));
  });

  dataset
    .command('push <name> <dir>')
    .description('create a new version of NAME from the regular files in DIR (streamed as a tar)')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (name: string, dir: string, options: { tenant?: string }) => {
      const tenant = await ctx.resolveTenant(options.tenant);
      const files = await walk(dir);
      if (files.length === 0) throw new AppError('VALIDATION_FAILED', `${dir} holds no regular files`);
      // Tar size: a 512-byte header per file plus its data rounded up to 512 (directories add a little).
      const estimate = files.reduce((sum, f) => sum + 512 + Math.ceil(f.size / 512) * 512, 1024);
      const bar = progressBar(ctx, estimate, `push ${name}`);
      const tarStream = Readable.from(createTar({ cwd: dir, portable: true, follow: false }, files.map((f) => f.path)) as unknown as AsyncIterable<Buffer>);
      try {
        const response = await rawRequest(ctx, 'POST', `${ctx.tenantPath(tenant)}/datasets/${encodeURIComponent(name)}/versions`, {
          body: tarStream.pipe(counter(bar.tick)), headers: { 'content-type': 'application/x-tar' },
        });
        const created = (await response.json()) as Record<string, unknown>;
        bar.stop();
        ctx.print(created, () => `${name}:${String(created['version'])}  ${String(created['fileCount'])} files, ${String(created['totalBytes'])} bytes, digest ${String(created['digest'])}`);
      } finally {
        bar.stop();
      }
    });

  dataset
    .command('pull <ref> <dir>')
    .description('download NAME[:VERSION] (default: latest) into DIR, verifying every file against its digest')
    .option('--tenant <slug>', "tenant (default: the token's)")
    .action(async (ref: string, dir: string, options: { tenant?: string }) => {
      const tenant = await ctx.resolveTenant(options.tenant);
      const [name = '', version = 'latest'] = ref.split(':');
      const base = `${ctx.tenantPath(tenant)}/datasets/${encodeURIComponent(name)}/versions`;
      const shown = await ctx.client().request<{ version: number; digest: string; totalBytes: number; files: Array<{ path: string; digest: string; size: number }> }>('GET', `${base}/${encodeURIComponent(version)}`);
      const bar = progressBar(ctx, shown.totalBytes, `pull ${name}:${shown.version}`);
      try {
        for (const file of shown.files) {
          const response = await rawRequest(ctx, 'GET', `${base}/${shown.version}/files/${encodePath(file.path)}`);
          await writeNewFile(dir, file.path, bodyOf(response).pipe(counter(bar.tick)), file.digest);
        }
      } finally {
        bar.stop();
      }
      ctx.print({ dataset: name, version: shown.version, digest: shown.digest, files: shown.files.length }, () => `${name}:${shown.version} → ${dir} (${shown.files.length} files, digest ${shown.digest})`);
    });

  const inputs = program.command('inputs').description("inside a job on a Kubernetes cluster: fetch the job's inputs through the API");
  inputs
    .command('fetch')
    .description("download this job's code bundle into --code and its dataset versions into --data/<name>, verifying digests; reads BULKHEAD_JOB_ID, BULKHEAD_TENANT, BULKHEAD_URL and BULKHEAD_TOKEN (the job token) — what the job's init container runs")
    .option('--data <dir>', 'where dataset versions go (one directory per dataset)', '/data')
    .option('--code <dir>', 'where the code bundle goes (a .tar/.tar.gz/.tgz bundle is unpacked)', '/code')
    .action(async (options: { data: string; code: string }) => {
      const jobId = ctx.env['BULKHEAD_JOB_ID'];
      const tenant = ctx.env['BULKHEAD_TENANT'];
      if (jobId === undefined || tenant === undefined) throw new AppError('VALIDATION_FAILED', 'BULKHEAD_JOB_ID and BULKHEAD_TENANT must be set (they are in a cluster job)');
      const job = await ctx.client().request<{ codeBundle: string | null; datasets: Array<{ name: string; version: number }> }>('GET', `${ctx.tenantPath(tenant)}/jobs/${encodeURIComponent(jobId)}`);
      let files = 0;
      let bytes = 0;
      for (const dataset of job.datasets) {
        const base = `${ctx.tenantPath(tenant)}/datasets/${encodeURIComponent(dataset.name)}/versions/${dataset.version}`;
        const shown = await ctx.client().request<{ files: Array<{ path: string; digest: string }> }>('GET', base);
        for (const file of shown.files) {
          const response = await rawRequest(ctx, 'GET', `${base}/files/${encodePath(file.path)}`);
          bytes += await writeNewFile(join(options.data, normalizeArtifactPath(dataset.name)), file.path, bodyOf(response), file.digest);
          files += 1;
        }
      }
      if (job.codeBundle !== null) {
        const bundle = normalizeArtifactPath(job.codeBundle);
        const response = await rawRequest(ctx, 'GET', `${mlflowArtifacts}/${encodePath(bundle)}`);
        await mkdir(options.code, { recursive: true });
        if (isTarBundle(bundle)) {
          await pipeline(bodyOf(response), extractBundle(options.code));
        } else {
          bytes += await writeNewFile(options.code, bundle.split('/').at(-1) ?? 'bundle', bodyOf(response));
        }
        files += 1;
      }
      ctx.print({ job: jobId, datasets: job.datasets.length, codeBundle: job.codeBundle, files, bytes }, () => `inputs of job ${jobId}: ${job.datasets.length} dataset version(s), ${job.codeBundle === null ? 'no code bundle' : `code bundle ${job.codeBundle}`} (${files} files, ${bytes} bytes)`);
    });

  const model = program.commands.find((c) => c.name() === 'model') ?? program.command('model').description('registered models of your tenant');
  model
    .command('fetch')
    .description("inside a model endpoint's pod on a Kubernetes cluster: download the generation's model (BULKHEAD_MODEL_PATH, an artifact path) into --dest/model.onnx with the endpoint token (BULKHEAD_URL, BULKHEAD_TOKEN) — what the pod's init container runs")
    .option('--dest <dir>', 'where model.onnx goes', '/model')
    .action(async (options: { dest: string }) => {
      const path = ctx.env['BULKHEAD_MODEL_PATH'];
      if (path === undefined || path === '') throw new AppError('VALIDATION_FAILED', 'BULKHEAD_MODEL_PATH must be set (it is in a cluster endpoint pod)');
      const response = await rawRequest(ctx, 'GET', `${mlflowArtifacts}/${encodePath(normalizeArtifactPath(path))}`);
      await mkdir(options.dest, { recursive: true });
      const bytes = await writeNewFile(options.dest, 'model.onnx', bodyOf(response));
      ctx.print({ path, dest: join(options.dest, 'model.onnx'), bytes }, () => `model ${path} → ${join(options.dest, 'model.onnx')} (${bytes} bytes)`);
    });

  const artifact = program.command('artifact').description("artifacts through the MLflow artifact API (the token's tenant)");

  artifact.command('upload <local> <path>').description('upload a local file to artifact PATH (e.g. 1/<run>/artifacts/model.onnx)').action(async (local: string, path: string) => {
    const size = (await stat(local)).size;
    await rawRequest(ctx, 'PUT', `${mlflowArtifacts}/${encodePath(normalizeArtifactPath(path))}`, {
      body: createReadStream(local), headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    ctx.print({ uploaded: path, size }, () => `uploaded ${local} → ${path} (${size} bytes)`);
  });

  artifact.command('download <path> <local>').description('download artifact PATH to a new local file').action(async (path: string, local: string) => {
    const response = await rawRequest(ctx, 'GET', `${mlflowArtifacts}/${encodePath(normalizeArtifactPath(path))}`);
    const handle = await open(local, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    await pipeline(bodyOf(response), handle.createWriteStream());
    ctx.print({ downloaded: path, to: local }, () => `downloaded ${path} → ${local}`);
  });

  artifact.command('list [path]').description('list a directory of artifacts (default: the root)').action(async (path: string | undefined) => {
    const query = path === undefined ? '' : `?path=${encodeURIComponent(path)}`;
    const listed = (await (await rawRequest(ctx, 'GET', `${mlflowArtifacts}${query}`)).json()) as { files?: Array<{ path: string; is_dir: boolean; file_size?: number }> };
    const files = listed.files ?? [];
    ctx.print(files, () => table(files.map((f) => ({ path: f.path + (f.is_dir ? '/' : ''), size: f.file_size })), ['path', 'size']));
  });

  artifact.command('delete <path>').description('delete an artifact file, or a directory recursively').action(async (path: string) => {
    await rawRequest(ctx, 'DELETE', `${mlflowArtifacts}/${encodePath(normalizeArtifactPath(path))}`);
    ctx.print({ deleted: path }, () => `deleted ${path}`);
  });
};
