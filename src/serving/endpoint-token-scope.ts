/**
 * What an endpoint token (kind 'endpoint', one per generation of a cluster deployment) may do: read the one
 * model artifact of its generation, which the pod's init container (`bulkhead model fetch`) downloads.
 * Pure: (scope, method, url) → allowed or why not.
 */

/** The scope of a live endpoint token, as the cluster serving backend reports it. */
export interface EndpointTokenScope {
  /** The generation's `model.onnx` artifact path in the tenant's store. */
  artifactPath: string;
}

const ARTIFACT_ROUTE = /^\/(?:api|ajax-api)\/2\.0\/mlflow-artifacts\/artifacts\/(.+)$/;

export const endpointTokenAllows = (scope: EndpointTokenScope, method: string, rawUrl: string): { ok: true } | { ok: false; why: string } => {
  if (method !== 'GET') return { ok: false, why: 'an endpoint token may only read its model' };
  let path: string;
  try {
    // The raw path, not a URL object's: that would resolve `..` segments before they can be refused.
    path = decodeURIComponent(rawUrl.split('?', 1)[0] ?? '');
  } catch {
    return { ok: false, why: 'malformed path' };
  }
  if (path.split('/').includes('..')) return { ok: false, why: 'path traversal' };
  const artifact = ARTIFACT_ROUTE.exec(path)?.[1];
  if (artifact === undefined) return { ok: false, why: 'an endpoint token may only read its model' };
  return artifact === scope.artifactPath ? { ok: true } : { ok: false, why: "an endpoint token may only read its own generation's model" };
};
