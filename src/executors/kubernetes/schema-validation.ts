/**
 * Offline schema validation of rendered objects, for tests: core kinds against the official Kubernetes
 * OpenAPI schemas (via `kubernetes-models`, a devDependency — which is why this file is not exported from
 * index.ts and must not be imported by production code), Kueue kinds against `validateKueueObject`.
 */
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { LimitRange, Namespace, ResourceQuota, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { KubeObject } from './kubernetes-types.ts';
import { isKueueObject, validateKueueObject } from './kueue.ts';

interface Validatable {
  validate(): void;
}

const models: Readonly<Record<string, (data: never) => Validatable>> = {
  'v1/Namespace': (d) => new Namespace(d),
  'v1/ServiceAccount': (d) => new ServiceAccount(d),
  'v1/ResourceQuota': (d) => new ResourceQuota(d),
  'v1/LimitRange': (d) => new LimitRange(d),
  'v1/Service': (d) => new Service(d),
  'v1/Secret': (d) => new Secret(d),
  'rbac.authorization.k8s.io/v1/Role': (d) => new Role(d),
  'rbac.authorization.k8s.io/v1/RoleBinding': (d) => new RoleBinding(d),
  'networking.k8s.io/v1/NetworkPolicy': (d) => new NetworkPolicy(d),
  'batch/v1/Job': (d) => new Job(d),
  'apps/v1/Deployment': (d) => new Deployment(d),
};

/** The schema problems of one object; empty when it validates. Unknown kinds are a problem, not a pass. */
export const schemaProblems = (obj: KubeObject): string[] => {
  if (isKueueObject(obj)) return validateKueueObject(obj);
  const build = models[`${obj.apiVersion}/${obj.kind}`];
  if (build === undefined) return [`no schema known for ${obj.apiVersion}/${obj.kind}`];
  try {
    // The models copy the data; a structuredClone keeps the caller's object untouched either way.
    build(structuredClone(obj) as never).validate();
    return [];
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
};
