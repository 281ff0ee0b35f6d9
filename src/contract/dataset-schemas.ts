/**
 * The datasets API contract: datasets, their immutable numbered versions and files, and the tenant's
 * storage usage. Shared by the server, the CLI and a console.
 */
import { z } from 'zod';
import { tenantParamsSchema } from './api-schemas.ts';

export const datasetSchema = z.object({ id: z.string(), name: z.string(), description: z.string(), createdAt: z.string(), latestVersion: z.number().nullable() });
export const datasetVersionSchema = z.object({
  dataset: z.string(), version: z.number(), digest: z.string(), fileCount: z.number(), totalBytes: z.number(), createdBy: z.string(), createdAt: z.string(),
});
export const datasetFileSchema = z.object({ path: z.string(), digest: z.string(), size: z.number() });
export const datasetParamsSchema = tenantParamsSchema.extend({ name: z.string().max(200) });
// Versions are `integer` columns: a larger number cannot name one, and must not reach the database.
export const datasetVersionRefParamsSchema = datasetParamsSchema.extend({ version: z.union([z.literal('latest'), z.coerce.number().int().min(1).max(2_147_483_647)]) });

export const datasetFileParamsSchema = datasetVersionRefParamsSchema.extend({ '*': z.string() });
export const createDatasetSchema = z.strictObject({ name: z.string().max(200), description: z.string().max(2000).optional() });
export const datasetListSchema = z.object({ datasets: z.array(datasetSchema) });
export const datasetVersionListSchema = z.object({ versions: z.array(datasetVersionSchema) });
export const datasetVersionFilesSchema = datasetVersionSchema.extend({ files: z.array(datasetFileSchema) });
