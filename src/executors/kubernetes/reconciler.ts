/**
 * The IO half: makes a cluster match the rendered objects. Server-side apply with field manager
 * `bulkhead`, drift detection (live vs desired on the fields we set), pruning of objects Bulkhead created
 * for a tenant that are no longer desired, and tenant deletion. The cluster is reached through the small
 * `KubernetesClient` interface; `createKubernetesClient` adapts `@kubernetes/client-node` to it, and
 * `createPodLogSource` follows pod logs (`PodLogSource`) for the cluster job executor.
 */
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { KubernetesObjectApi, Log, PatchStrategy } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { AppError } from '../../core/errors.ts';
import type { ErrorCode } from '../../core/errors.ts';
import type { KubeObject, ManagedComponent } from './kubernetes-types.ts';
import { FIELD_MANAGER, labelKeys, managedSelector, objectKey, parseQuantity } from './naming.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface KindRef {
  apiVersion: string;
  kind: string;
  namespaced: boolean;
}

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

/**
 * What the reconciler and the cluster job executor need from a cluster. Implementations:
 * `createKubernetesClient` (real API server) and, in the reconciler's tests only, an in-memory fake.
 */
export interface KubernetesClient {
  /** Server-side apply; returns the object as stored. */
  apply(obj: KubeObject, options: { fieldManager: string; force: boolean; dryRun: boolean }): Promise<KubeObject>;
  /** The live object, or undefined when it does not exist. */
  get(ref: ObjectRef): Promise<KubeObject | undefined>;
  /** Objects of one kind matching a label selector (in one namespace, or cluster-wide when none is given).
   * A kind the cluster does not serve (e.g. Kueue not installed) lists as empty. */
  list(query: { apiVersion: string; kind: string; namespace?: string; labelSelector: string }): Promise<KubeObject[]>;
  /**
   * Deletes; false when it was already gone. `gracePeriodSeconds` (pods: how long the containers get
   * between SIGTERM and SIGKILL) overrides the object's default; unset keeps the default. Never 0: that
   * is a force deletion, which frees the name while the containers may still run.
   */
  delete(ref: ObjectRef, options: { propagationPolicy: PropagationPolicy; gracePeriodSeconds?: number }): Promise<boolean>;
}

/**
 * Follows one container's log. `onLine` gets each line (without its newline; over-long lines arrive in
 * pieces); the promise settles when the stream ends (the container exited and its log was read) or when
 * `signal` aborts, and rejects when the log cannot be opened. Kubernetes merges stdout and stderr into
 * one log, so the lines carry no stream.
 */
export interface PodLogSource {
  follow(namespace: string, pod: string, container: string, onLine: (line: string) => void, signal: AbortSignal): Promise<void>;
}

/** The namespaced kinds of a tenant bundle; pruned when no longer desired. The Namespace never is. */
export const TENANT_PRUNE_KINDS: readonly KindRef[] = [
  { apiVersion: 'v1', kind: 'ServiceAccount', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', namespaced: true },
  { apiVersion: 'v1', kind: 'ResourceQuota', namespaced: true },
  { apiVersion: 'v1', kind: 'LimitRange', namespaced: true },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespaced: true },
  { apiVersion: 'kueue.x-k8s.io/v1beta1', kind: 'LocalQueue', namespaced: true },
  { apiVersion: 'kueue.x-k8s.io/v1beta1', kind: 'ClusterQueue', namespaced: false },
  // An organization's Cohort (issue 15), after its ClusterQueue.
  { apiVersion: 'kueue.x-k8s.io/v1beta1', kind: 'Cohort', namespaced: false },
  { apiVersion: 'kueue.x-k8s.io/v1beta1', kind: 'ResourceFlavor', namespaced: false },
];

/** The kinds of an endpoint; pruned with component `endpoint`. */
export const ENDPOINT_PRUNE_KINDS: readonly KindRef[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment', namespaced: true },
  { apiVersion: 'v1', kind: 'Service', namespaced: true },
];

export interface FieldDifference {
  path: string;
  desired: unknown;
  live: unknown;
}

export interface DriftEntry {
  object: string;
  differences: FieldDifference[];
}

export interface ReconcileOptions {
  tenantId: string;
  namespace: string;
  /** Which of the tenant's managed objects `desired` describes completely; only those are pruned. */
  component: ManagedComponent;
  /** Kinds to look for when pruning; defaults by component (jobs are never pruned here). */
  pruneKinds?: readonly KindRef[];
  /** Report what would change without writing anything. */
  dryRun?: boolean;
}

export interface ReconcileResult {
  created: string[];
  /** Existing objects whose owned fields had drifted; apply put them back. */
  updated: string[];
  unchanged: string[];
  pruned: string[];
  drift: DriftEntry[];
  dryRun: boolean;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const scalarEqual = (desired: unknown, live: unknown): boolean => {
  if (desired === live) return true;
  // The API server canonicalises quantities ("1000m" → "1") and int-or-string fields may come back as
  // numbers; equal amounts are not drift.
  if ((typeof desired === 'string' || typeof desired === 'number') && (typeof live === 'string' || typeof live === 'number')) {
    const a = parseQuantity(desired);
    const b = parseQuantity(live);
    return a !== undefined && b !== undefined && a === b;
  }
  return false;
};

/**
 * The fields set in `desired` whose live value differs, as dotted paths. Fields only present live (server
 * defaults, status, other managers' fields) are not drift. Lists compare element by element and must
 * have the same length. Pure.
 */
export const diffOwnedFields = (desired: unknown, live: unknown, path = ''): FieldDifference[] => {
  if (isRecord(desired)) {
    if (!isRecord(live)) return [{ path: path || '.', desired, live }];
    return Object.entries(desired).flatMap(([key, value]) =>
      value === undefined ? [] : diffOwnedFields(value, live[key], path === '' ? key : `${path}.${key}`),
    );
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return [{ path, desired, live }];
    return desired.flatMap((item, i) => diffOwnedFields(item, live[i], `${path}[${i}]`));
  }
  return scalarEqual(desired, live) ? [] : [{ path, desired, live }];
};

const refOf = (obj: KubeObject): ObjectRef =>
  obj.metadata.namespace === undefined
    ? { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name }
    : { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace };

const codeForStatus = (status: number | undefined): ErrorCode => {
  if (status === 400 || status === 422) return 'INTERNAL'; // we rendered something the API rejects: a bug
  if (status === 409) return 'CONFLICT';
  return 'UNAVAILABLE';
};

/** HTTP status of a client error, when it carries one (client-node's ApiException has `code`). */
export const statusOfError = (error: unknown): number | undefined => {
  if (!isRecord(error) && !(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown; statusCode?: unknown }).code ?? (error as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
};

const clusterError = (action: string, target: string, error: unknown): AppError => {
  const status = statusOfError(error);
  return new AppError(codeForStatus(status), `Kubernetes ${action} of ${target} failed${status === undefined ? '' : ` (HTTP ${status})`}`, {
    cause: error,
    details: { action, target, ...(status === undefined ? {} : { status }) },
  });
};

const attempt = async <T>(action: string, target: string, fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (error) {
    throw clusterError(action, target, error);
  }
};

/** Apply order: the Namespace first, cluster-scoped objects next, then the rest in the given order. */
const applyOrder = (objects: readonly KubeObject[]): KubeObject[] => {
  const rank = (o: KubeObject) => (o.kind === 'Namespace' ? 0 : o.metadata.namespace === undefined ? 1 : 2);
  return objects.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i).map(({ o }) => o);
};

const defaultPruneKinds = (component: ManagedComponent): readonly KindRef[] => {
  switch (component) {
    case 'tenant':
      return TENANT_PRUNE_KINDS;
    case 'endpoint':
      return ENDPOINT_PRUNE_KINDS;
    case 'job':
      return []; // jobs live and die with the job lifecycle, not with the bundle
  }
};

/**
 * Reconciles one component of one tenant: applies every desired object (server-side apply, manager
 * `bulkhead`, force — Bulkhead is the authority on the fields it sets, so a conflicting hand edit is
 * overwritten and reported as drift), then deletes objects labelled as Bulkhead's for this tenant and
 * component that are not desired. The Namespace is never pruned (see `deleteTenant`).
 *
 * Every desired object must carry this tenant's id and the component label: anything else is a caller bug
 * and fails with INTERNAL before any write. Cluster errors fail with UNAVAILABLE (CONFLICT for 409,
 * INTERNAL for a rejected manifest); objects applied before the failure stay applied — rerunning converges.
 */
export const reconcileTenant = async (
  client: KubernetesClient,
  desired: readonly KubeObject[],
  options: ReconcileOptions,
): Promise<ReconcileResult> => {
  const dryRun = options.dryRun ?? false;
  for (const obj of desired) {
    const labels = obj.metadata.labels ?? {};
    if (labels[labelKeys.tenantId] !== options.tenantId || labels[labelKeys.component] !== options.component) {
      throw new AppError('INTERNAL', `${objectKey(obj)} is not labelled as ${options.component} of tenant ${options.tenantId}`);
    }
    if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== options.namespace) {
      throw new AppError('INTERNAL', `${objectKey(obj)} is outside namespace ${options.namespace}`);
    }
  }
  const result: ReconcileResult = { created: [], updated: [], unchanged: [], pruned: [], drift: [], dryRun };
  const wanted = new Set(desired.map(objectKey));

  for (const obj of applyOrder(desired)) {
    const key = objectKey(obj);
    const live = await attempt('read', key, () => client.get(refOf(obj)));
    if (live === undefined) {
      result.created.push(key);
    } else {
      const differences = diffOwnedFields(obj, live);
      if (differences.length === 0) result.unchanged.push(key);
      else {
        result.updated.push(key);
        result.drift.push({ object: key, differences });
      }
    }
    // Applied even when unchanged: a field Bulkhead stopped setting is only released by an apply without it.
    if (!dryRun) await attempt('apply', key, () => client.apply(obj, { fieldManager: FIELD_MANAGER, force: true, dryRun: false }));
  }

  const selector = managedSelector(options.tenantId, options.component);
  for (const kind of options.pruneKinds ?? defaultPruneKinds(options.component)) {
    if (kind.kind === 'Namespace') continue;
    const query = kind.namespaced
      ? { apiVersion: kind.apiVersion, kind: kind.kind, namespace: options.namespace, labelSelector: selector }
      : { apiVersion: kind.apiVersion, kind: kind.kind, labelSelector: selector };
    const found = await attempt('list', `${kind.apiVersion}/${kind.kind}`, () => client.list(query));
    for (const live of found) {
      const key = objectKey(live);
      if (wanted.has(key)) continue;
      // Belt and braces: the selector already asked for these labels; never delete on a label mismatch.
      if (live.metadata.labels?.[labelKeys.tenantId] !== options.tenantId) continue;
      if (!dryRun) await attempt('delete', key, () => client.delete(refOf(live), { propagationPolicy: 'Background' }));
      result.pruned.push(key);
    }
  }
  return result;
};

export interface DeleteTenantResult {
  deleted: string[];
}

/**
 * Deletes a tenant from the cluster: its Namespace (Kubernetes then deletes everything in it — jobs,
 * endpoints, secrets, queues) and the tenant's cluster-scoped Kueue objects (ClusterQueue, dedicated
 * ResourceFlavor), found by the tenant-id label. Idempotent: what is already gone is skipped. Fails with
 * UNAVAILABLE when the cluster cannot be reached.
 */
export const deleteTenant = async (
  client: KubernetesClient,
  options: { tenantId: string; namespace: string },
): Promise<DeleteTenantResult> => {
  const deleted: string[] = [];
  const nsKey = `v1/Namespace//${options.namespace}`;
  const gone = await attempt('delete', nsKey, () =>
    client.delete({ apiVersion: 'v1', kind: 'Namespace', name: options.namespace }, { propagationPolicy: 'Background' }),
  );
  if (gone) deleted.push(nsKey);
  const selector = managedSelector(options.tenantId);
  // ClusterQueue before ResourceFlavor: Kueue keeps a flavor while a queue still references it.
  for (const kind of TENANT_PRUNE_KINDS.filter((k) => !k.namespaced)) {
    const found = await attempt('list', `${kind.apiVersion}/${kind.kind}`, () =>
      client.list({ apiVersion: kind.apiVersion, kind: kind.kind, labelSelector: selector }),
    );
    for (const live of found) {
      if (live.metadata.labels?.[labelKeys.tenantId] !== options.tenantId) continue;
      const key = objectKey(live);
      if (await attempt('delete', key, () => client.delete(refOf(live), { propagationPolicy: 'Background' }))) deleted.push(key);
    }
  }
  return { deleted };
};

const toKubeObject = (obj: KubernetesObject, fallback: { apiVersion: string; kind: string }): KubeObject => {
  const metadata = obj.metadata ?? {};
  return {
    ...(obj as Record<string, unknown>),
    apiVersion: obj.apiVersion ?? fallback.apiVersion,
    kind: obj.kind ?? fallback.kind,
    metadata: { ...(metadata as Record<string, unknown>), name: metadata.name ?? '' },
  } as KubeObject;
};

/**
 * Adapts `@kubernetes/client-node` (v2) to `KubernetesClient` for the cluster in `kubeConfig`. 404 becomes
 * undefined (get), false (delete) or an empty list (list, including kinds the cluster does not serve);
 * other errors propagate as the library's ApiException, which the reconciler wraps in AppError.
 */
export const createKubernetesClient = (kubeConfig: KubeConfig): KubernetesClient => {
  const api = KubernetesObjectApi.makeApiClient(kubeConfig);
  const notFound = (error: unknown) => statusOfError(error) === 404;
  const header = (ref: ObjectRef) => ({
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: ref.namespace === undefined ? { name: ref.name } : { name: ref.name, namespace: ref.namespace },
  });
  return {
    apply: async (obj, options) => {
      const stored = await api.patch(
        obj as KubernetesObject,
        undefined,
        options.dryRun ? 'All' : undefined,
        options.fieldManager,
        options.force,
        PatchStrategy.ServerSideApply,
      );
      return toKubeObject(stored, obj);
    },
    get: async (ref) => {
      try {
        return toKubeObject(await api.read(header(ref)), ref);
      } catch (error) {
        if (notFound(error)) return undefined;
        throw error;
      }
    },
    list: async (query) => {
      const items: KubeObject[] = [];
      let continueToken: string | undefined;
      try {
        do {
          const page = await api.list(
            query.apiVersion,
            query.kind,
            query.namespace,
            undefined,
            undefined,
            undefined,
            undefined,
            query.labelSelector,
            500,
            continueToken,
          );
          items.push(...page.items.map((item) => toKubeObject(item, query)));
          continueToken = page.metadata?._continue;
        } while (continueToken !== undefined && continueToken !== '');
      } catch (error) {
        // Also what client-node reports when the kind is not served (resource discovery finds nothing).
        if (notFound(error) || (error instanceof Error && /Unrecognized API version and kind/.test(error.message))) return [];
        throw error;
      }
      return items;
    },
    delete: async (ref, options) => {
      if (options.gracePeriodSeconds !== undefined && !(options.gracePeriodSeconds >= 1)) {
        throw new AppError('INTERNAL', `refusing to delete ${ref.kind} ${ref.name} with grace period ${options.gracePeriodSeconds}: 0 is a force deletion`);
      }
      try {
        await api.delete(header(ref), undefined, undefined, options.gracePeriodSeconds, undefined, options.propagationPolicy);
        return true;
      } catch (error) {
        if (notFound(error)) return false;
        throw error;
      }
    },
  };
};

/**
 * Splits a byte or text stream into lines for `onLine`: a newline ends a line (and is dropped), a line
 * longer than `maxLength` characters is delivered in pieces of at most `maxLength`, multi-byte characters
 * split across chunks are reassembled, and `end()` delivers what is left without a newline. Pure.
 */
export const createLineSplitter = (onLine: (line: string) => void, maxLength = 64 * 1024) => {
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  const drain = (): void => {
    let newline = buffer.indexOf('\n');
    while (newline !== -1 || buffer.length >= maxLength) {
      const end = newline !== -1 && newline < maxLength ? newline : maxLength;
      onLine(buffer.slice(0, end));
      buffer = buffer.slice(end === newline ? end + 1 : end);
      newline = buffer.indexOf('\n');
    }
  };
  return {
    push(chunk: Buffer | string): void {
      buffer += typeof chunk === 'string' ? chunk : decoder.write(chunk);
      drain();
    },
    end(): void {
      buffer += decoder.end();
      drain();
      if (buffer.length > 0) onLine(buffer);
      buffer = '';
    },
  };
};

/**
 * `PodLogSource` over `@kubernetes/client-node`'s `Log` (GET .../pods/{pod}/log?follow=true), for the
 * cluster in `kubeConfig`. Needs `get` on `pods/log` in the tenant namespace. The library does not report
 * a stream that breaks off mid-way (it only ends the destination on a clean end): such a follow settles
 * when the caller aborts it, which the executor does a few seconds after the job's outcome.
 */
export const createPodLogSource = (kubeConfig: KubeConfig, options: { maxLineLength?: number } = {}): PodLogSource => {
  const logs = new Log(kubeConfig);
  return {
    follow: (namespace, pod, container, onLine, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal.aborted) {
          resolve();
          return;
        }
        let settled = false;
        let controller: AbortController | undefined;
        const splitter = createLineSplitter(onLine, options.maxLineLength);
        const settle = (error?: unknown): void => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          if (error !== undefined) {
            reject(error);
            return;
          }
          splitter.end();
          resolve();
        };
        const onAbort = (): void => {
          controller?.abort();
          settle();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const sink = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            // After an abort the response body may still deliver a buffered chunk: drop it, the caller is done.
            if (!settled) splitter.push(chunk);
            callback();
          },
        });
        sink.on('finish', () => settle());
        sink.on('error', () => settle());
        logs.log(namespace, pod, container, sink, { follow: true }).then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (error: unknown) => settle(error),
        );
      }),
  };
};
