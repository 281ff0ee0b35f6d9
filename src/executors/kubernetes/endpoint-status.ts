/**
 * Where one generation of an endpoint stands, read from its Deployment as the API server reports it.
 * Pure: no IO. Mirrors `kubectl rollout status`: a generation is ready when the controller has seen the
 * current spec, every desired replica runs the generation's template and is available, and no pod of an
 * older template is left.
 */
import type { KubeObject } from './kubernetes-types.ts';
import { ENDPOINT_GENERATION_ANNOTATION } from './endpoint-manifest.ts';

export type EndpointPhase = 'missing' | 'progressing' | 'ready' | 'superseded' | 'failed';

export interface EndpointObservation {
  /**
   * `missing`: no Deployment; `progressing`: rolling out this generation; `ready`: fully rolled out;
   * `superseded`: the Deployment's template is another generation's; `failed`: the rollout exceeded its
   * progress deadline (Kubernetes keeps the old pods, maxUnavailable 0).
   */
  phase: EndpointPhase;
  /** Desired replicas of the Deployment. */
  desired: number;
  /** Pods behind the Service that pass their readiness probe, of any generation: what can serve now. */
  ready: number;
  /** Pods running the Deployment's current template. */
  updated: number;
  reason?: string;
}

const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
const rec = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

/** How generation `generation` stands in `deployment` (undefined: the Deployment does not exist). */
export const observeEndpointGeneration = (deployment: KubeObject | undefined, generation: string): EndpointObservation => {
  if (deployment === undefined) return { phase: 'missing', desired: 0, ready: 0, updated: 0 };
  const spec = rec(deployment['spec']);
  const status = rec(deployment['status']);
  const desired = spec['replicas'] === undefined ? 1 : num(spec['replicas']);
  const ready = num(status['readyReplicas']);
  const updated = num(status['updatedReplicas']);
  const base = { desired, ready, updated };
  const template = rec(rec(rec(spec['template'])['metadata'])['annotations']);
  if (template[ENDPOINT_GENERATION_ANNOTATION] !== generation) return { phase: 'superseded', ...base };
  const metaGeneration = num(deployment.metadata['generation']);
  if (num(status['observedGeneration']) < metaGeneration) return { phase: 'progressing', ...base, reason: 'the controller has not seen this generation yet' };
  const conditions = Array.isArray(status['conditions']) ? status['conditions'].map(rec) : [];
  const progressing = conditions.find((c) => c['type'] === 'Progressing');
  if (progressing?.['status'] === 'False' && progressing['reason'] === 'ProgressDeadlineExceeded') {
    return { phase: 'failed', ...base, reason: typeof progressing['message'] === 'string' ? progressing['message'] : 'ProgressDeadlineExceeded' };
  }
  const total = num(status['replicas']);
  const available = num(status['availableReplicas']);
  if (updated >= desired && total <= updated && available >= desired && ready >= desired) return { phase: 'ready', ...base };
  return { phase: 'progressing', ...base, reason: `${Math.min(updated, desired)} of ${desired} replica(s) updated, ${ready} ready` };
};
