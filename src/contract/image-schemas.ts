/** The images API contract (issue 17): references, import parameters, the image record. Shared by server and CLI. */
import { z } from 'zod';
import { tenantParamsSchema } from './api-schemas.ts';

export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const REFERENCE = /^([a-z0-9][a-z0-9._-]{0,127})(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127})|@(sha256:[0-9a-f]{64}))?$/;

export type ImageReference = { name: string; tag: string; digest?: undefined } | { name: string; digest: string; tag?: undefined };

/** `name`, `name:tag` or `name@sha256:<hex>` → its parts (`latest` when no tag); undefined when malformed. Pure. */
export function parseImageReference(ref: string): ImageReference | undefined {
  const match = REFERENCE.exec(ref);
  if (match === null) return undefined;
  const name = match[1] as string;
  if (match[3] !== undefined) return { name, digest: match[3] };
  return { name, tag: match[2] ?? 'latest' };
}

export const imageReferenceSchema = z.string().max(300).refine((ref) => parseImageReference(ref) !== undefined, {
  message: 'an image reference is name, name:tag or name@sha256:<64 hex digits> (lower-case name of letters, digits, . _ -)',
});

export const importImageQuerySchema = z.strictObject({
  name: z.string().regex(IMAGE_NAME, 'an image name is lower-case letters, digits, . _ - (at most 128)'),
  tag: z.string().regex(IMAGE_TAG, 'a tag is letters, digits, . _ - (at most 128)').default('latest'),
});

export const imageParamsSchema = tenantParamsSchema.extend({ ref: imageReferenceSchema });
export const publicImageParamsSchema = z.object({ ref: imageReferenceSchema });

export const imageSchema = z.object({
  name: z.string(),
  /** null: an untagged digest kept after its tag moved to a newer import (still runnable as name@digest). */
  tag: z.string().nullable(),
  digest: z.string(),
  sizeBytes: z.number(),
  /** `tenant`: the tenant's private store; `public`: the platform-wide store. */
  scope: z.enum(['tenant', 'public']),
  createdAt: z.string(),
});
export type Image = z.infer<typeof imageSchema>;

export const imageListSchema = z.object({ images: z.array(imageSchema) });

/**
 * A registry reference: `host[:port]/repository[:tag|@sha256:<hex>]` (the host is one the operator
 * configured; the repository is lower-case path components). Pure.
 */
export interface RegistryReference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const REGISTRY_REFERENCE = /^([a-z0-9.-]+(?::[0-9]{1,5})?)\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127})|@(sha256:[0-9a-f]{64}))?$/;

export function parseRegistryReference(ref: string): RegistryReference | undefined {
  if (ref.length > 500) return undefined;
  const match = REGISTRY_REFERENCE.exec(ref);
  if (match === null) return undefined;
  const registry = match[1] as string;
  const repository = match[2] as string;
  if (match[4] !== undefined) return { registry, repository, digest: match[4] };
  return { registry, repository, tag: match[3] ?? 'latest' };
}

export const pullImageBodySchema = z.strictObject({
  reference: z.string().max(500).refine((ref) => parseRegistryReference(ref) !== undefined, {
    message: 'a registry reference is host[:port]/repository[:tag] or host[:port]/repository@sha256:<64 hex digits>',
  }),
  /** The local `name:tag` to store it under; default: the repository's last component and the tag (or `latest`). */
  as: z.string().max(300).optional(),
});

export const registryCredentialParamsSchema = tenantParamsSchema.extend({
  registry: z.string().regex(/^[a-z0-9.-]+(:[0-9]{1,5})?$/, 'a registry is host or host:port as the operator configured it'),
});
export const registryCredentialBodySchema = z.strictObject({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(8192),
});
export const registryCredentialSchema = z.object({ registry: z.string(), username: z.string(), updatedAt: z.string() });
export const registryCredentialListSchema = z.object({ credentials: z.array(registryCredentialSchema) });
