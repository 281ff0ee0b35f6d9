/**
 * Where a deployment's model bytes come from. The port (`ModelResolver`) lets the deployment service be
 * tested without the registry; `createRegistryModelResolver` is the real one: a model version's `source`
 * in the tenant's MLflow registry (`runs:/<run_id>/<path>` or `mlflow-artifacts:/<path>`, naming an
 * `.onnx` file or a directory holding `model.onnx`), read from the tenant's encrypted artifact store.
 * Every lookup is scoped to one tenant: another tenant's model is simply not found.
 */
import type { Readable } from 'node:stream';
import { AppError } from '../core/errors.ts';

export interface ModelResolver {
  /**
   * The decrypted ONNX bytes of `model` `version` of `tenantId`, in memory only: nothing is written to
   * disk (the caller hands them to its worker over a pipe and zeroes them when done). Throws AppError
   * NOT_FOUND when the tenant has no such model version or its source has no ONNX file.
   */
  readModel(tenantId: string, model: string, version: string): Promise<Buffer>;
  /**
   * The artifact path (in the tenant's store) of `model` `version`'s ONNX file, for a pod that fetches the
   * model through the API itself (endpoints on a cluster). Same errors as `writeModel`. Optional: resolvers
   * that do not read the artifact store cannot serve cluster endpoints.
   */
  modelArtifactPath?(tenantId: string, model: string, version: string): Promise<string>;
}

/** The narrow slices of the registry, tracking and artifact services the resolver reads. */
export interface RegistryModelSources {
  getDownloadUri(tenantId: string, model: string, version: string): Promise<string>;
  getRunArtifactUri(tenantId: string, runId: string): Promise<string>;
  /** Undefined when no such file. */
  openArtifact(tenantId: string, path: string): Promise<Readable | undefined>;
}

const ARTIFACT_SCHEME = 'mlflow-artifacts:';

const artifactPathOf = (uri: string): string | undefined => {
  if (!uri.startsWith(ARTIFACT_SCHEME)) return undefined;
  const path = uri.slice(ARTIFACT_SCHEME.length).replace(/^\/+/, '').replace(/\/+$/, '');
  return path.split('/').includes('..') ? undefined : path;
};

export const createRegistryModelResolver = (sources: RegistryModelSources): ModelResolver => {
  /** The version's candidate artifact path of its ONNX file (not yet checked to exist). */
  const candidateOf = async (tenantId: string, model: string, version: string): Promise<string> => {
    const notFound = (why: string) => new AppError('NOT_FOUND', `model ${model} version ${version}: ${why}`);
    let source: string;
    try {
      source = await sources.getDownloadUri(tenantId, model, version);
    } catch {
      throw notFound('no such registered model version');
    }
    let path: string | undefined;
    const runs = /^runs:\/([^/]+)\/?(.*)$/.exec(source);
    if (runs !== null) {
      let runUri: string;
      try {
        runUri = await sources.getRunArtifactUri(tenantId, runs[1]!);
      } catch {
        throw notFound('the source run does not exist');
      }
      const base = artifactPathOf(runUri);
      path = base === undefined ? undefined : [base, runs[2] ?? ''].filter((p) => p !== '').join('/');
    } else {
      path = artifactPathOf(source);
    }
    if (path === undefined || path.split('/').includes('..')) throw notFound('its source is not in this server\'s artifact store');
    return path.endsWith('.onnx') ? path : `${path}/model.onnx`.replace(/^\//, '');
  };
  const noModel = (model: string, version: string) => new AppError('NOT_FOUND', `model ${model} version ${version}: its source holds no model.onnx`);
  return {
    async readModel(tenantId, model, version) {
      const stream = await sources.openArtifact(tenantId, await candidateOf(tenantId, model, version));
      if (stream === undefined) throw noModel(model, version);
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of stream) {
          chunks.push(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        // One unpooled buffer the caller owns alone, so zeroing it later wipes nothing else.
        const bytes = Buffer.alloc(size);
        let offset = 0;
        for (const chunk of chunks) offset += chunk.copy(bytes, offset);
        return bytes;
      } finally {
        for (const chunk of chunks) chunk.fill(0);
      }
    },
    async modelArtifactPath(tenantId, model, version) {
      const candidate = await candidateOf(tenantId, model, version);
      const stream = await sources.openArtifact(tenantId, candidate);
      if (stream === undefined) throw noModel(model, version);
      stream.destroy(); // only its existence was in question
      return candidate;
    },
  };
};
