/**
 * The deployments API contract: creating and updating a deployment, its statuses and the view the API
 * answers (with each replica's state). Shared by the server, the CLI and a console.
 */
import { z } from 'zod';
import { imageReferenceSchema } from './image-schemas.ts';
import { tenantParamsSchema } from './api-schemas.ts';

export type ReplicaState = 'starting' | 'ready' | 'restarting' | 'draining' | 'stopped';

export interface ReplicaStatus {
  id: string;
  version: string;
  state: ReplicaState;
  restarts: number;
  lastExit?: { reason: string; at: string };
}

export const deploymentNamePattern = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export const createDeploymentSchema = z.strictObject({
  name: z.string().regex(deploymentNamePattern, 'lowercase letters, digits, . _ - (at most 63)'),
  model: z.string().min(1).max(256),
  version: z.union([z.string().regex(/^[0-9]{1,9}$/), z.number().int().positive().max(2_147_483_647)]).transform(String),
  replicas: z.number().int().min(0).max(16).default(1),
  resources: z.strictObject({ cpu: z.number().positive().max(64).default(1), memoryMiB: z.number().int().min(32).max(65536).default(512) }).default({ cpu: 1, memoryMiB: 512 }),
  maxConcurrency: z.number().int().min(1).max(1024).default(8),
  /** Run the serving workers on this OCI image (name:tag or name@sha256:…) instead of the host's /usr (issue 17). */
  image: imageReferenceSchema.optional(),
});
export type CreateDeploymentInput = z.output<typeof createDeploymentSchema>;

export const updateDeploymentSchema = z.strictObject({
  version: z.union([z.string().regex(/^[0-9]{1,9}$/), z.number().int().positive().max(2_147_483_647)]).transform(String).optional(),
  replicas: z.number().int().min(0).max(16).optional(),
  resources: z.strictObject({ cpu: z.number().positive().max(64), memoryMiB: z.number().int().min(32).max(65536) }).partial().optional(),
  maxConcurrency: z.number().int().min(1).max(1024).optional(),
});
export type UpdateDeploymentInput = z.output<typeof updateDeploymentSchema>;

export const deploymentStatuses = ['starting', 'ready', 'updating', 'degraded', 'unavailable', 'failed', 'stopped'] as const;
export type DeploymentStatus = (typeof deploymentStatuses)[number];

export interface DeploymentView {
  id: string;
  name: string;
  model: string;
  version: string;
  replicas: number;
  resources: { cpu: number; memoryMiB: number };
  maxConcurrency: number;
  /** The image as given at creation and the digest its workers run on; null on the host's /usr. */
  image: string | null;
  imageDigest: string | null;
  status: DeploymentStatus;
  reason?: string;
  replicaStatus: ReplicaStatus[];
  endpoint: string;
  createdAt: string;
  updatedAt: string;
}


/** `…/deployments/{name}` path parameters. */
export const deploymentParamsSchema = tenantParamsSchema.extend({ name: z.string().min(1).max(63) });

/** Open Inference Protocol v2 paths (`/v2/models/{name}[/versions/{version}]`): a deployment's name, and a model version. */
export const inferenceModelParamsSchema = z.strictObject({ name: z.string().min(1).max(63) });
export const inferenceVersionParamsSchema = inferenceModelParamsSchema.extend({ version: z.string().min(1).max(16) });

/**
 * `GET …/deployments/{name}/stats`: this server process's recent inference requests for the deployment
 * (a sliding window; with several replicas, each answers for the requests it served).
 */
export const deploymentStatsSchema = z.object({
  deployment: z.string(),
  scope: z.literal('process'),
  windowSeconds: z.number(),
  requests: z.number().int(),
  requestsPerSecond: z.number(),
  p50Ms: z.number().nullable(),
  p99Ms: z.number().nullable(),
  rateLimited: z.number().int(),
  serverErrors: z.number().int(),
});
export type DeploymentStats = z.infer<typeof deploymentStatsSchema>;
