/**
 * Experiments another tenant shared with the caller (issue 15), as the MLflow API names them: id
 * `{owner}/{id}`, name `{owner}/{name}`. Every read runs in a withSharedRead transaction, where the
 * database's shared_read policies (migration 0034) admit the owner's experiment row only while a live
 * share grants it to the caller or one of its ancestors; this code never decides visibility. Each read
 * that returns something is audited in both tenants' chains before it is answered.
 *
 * Kept apart from tracking-service.ts's own-experiment search on purpose: that search pages by its own
 * token; shared experiments follow the caller's own ones, on pages whose token says so (`shared:{n}`).
 */
import type { Db, Queryable } from '../db/index.ts';
import { readAsSystem, withSharedRead, withTenant } from '../db/index.ts';
import { auditSharedRead, otherTenantIdBySlug } from '../sharing/index.ts';
import type { SharedReader } from '../sharing/index.ts';
import type { ExperimentJson, ExperimentRow } from './mlflow-entities.ts';
import { experimentJson } from './mlflow-entities.ts';
import { searchPageLimits, validateMaxResults, viewTypeToStages } from './mlflow-validation.ts';
import { compileExperimentFilter, compileExperimentOrderBy } from './search-filter.ts';
import { EXPERIMENT_SELECT } from './tracking-queries.ts';

/** A tenant slug, as tenants are created (src/tenants): the part of `{owner}/…` before the first '/'. */
const QUALIFIED = /^([a-z0-9][a-z0-9-]{0,62})\/(.+)$/s;

const SHARED_TOKEN = /^shared:(\d{1,9})$/;

/** `{owner}/{rest}` → the owner's id and slug; undefined when it names no other tenant. */
export const resolveSharedOwner = async (db: Db, tenantId: string, qualified: string): Promise<{ ownerId: string; owner: string; rest: string } | undefined> => {
  const match = QUALIFIED.exec(qualified);
  if (match === null) return undefined;
  const owner = match[1] as string;
  const ownerId = await otherTenantIdBySlug(db, tenantId, owner);
  return ownerId === undefined ? undefined : { ownerId, owner, rest: match[2] as string };
};

/** The owner's experiment as the grantee sees it: owner-qualified id and name. */
const qualifiedJson = (owner: string, row: ExperimentRow): ExperimentJson => ({ ...experimentJson(row), experiment_id: `${owner}/${String(row.id)}`, name: `${owner}/${row.name}` });

export interface SharedExperimentPage {
  items: ExperimentJson[];
  nextPageToken: string | undefined;
}

export const createSharedExperimentReads = (deps: { db: Db }) => {
  const { db } = deps;

  /** One experiment of the owner, by a query that carries the owner's tenant id (index condition, and never the caller's own row). */
  const readOne = async (scope: SharedReader, ownerId: string, owner: string, where: string, value: unknown): Promise<ExperimentJson | undefined> => {
    const row = await withSharedRead(db, scope.tenantId, ownerId, async (tx) =>
      (await tx.query<ExperimentRow>(`${EXPERIMENT_SELECT} WHERE e.tenant_id = $1 AND ${where} = $2`, [ownerId, value])).rows[0]);
    if (row === undefined) return undefined;
    await auditSharedRead(db, scope, ownerId, `experiment:${owner}/${String(row.id)}`, { via: 'experiments/get' });
    return qualifiedJson(owner, row);
  };

  return {
    /** experiments/get with `{owner}/{id}`: the shared experiment, or undefined (callers answer as for a missing one). */
    async getById(scope: SharedReader, qualifiedId: string): Promise<ExperimentJson | undefined> {
      const owner = await resolveSharedOwner(db, scope.tenantId, qualifiedId);
      if (owner === undefined || !/^\d{1,15}$/.test(owner.rest)) return undefined;
      return readOne(scope, owner.ownerId, owner.owner, 'e.id', Number(owner.rest));
    },

    /** experiments/get-by-name with `{owner}/{name}`: the shared experiment, or undefined. */
    async getByName(scope: SharedReader, qualifiedName: string): Promise<ExperimentJson | undefined> {
      const owner = await resolveSharedOwner(db, scope.tenantId, qualifiedName);
      if (owner === undefined) return undefined;
      return readOne(scope, owner.ownerId, owner.owner, 'e.name', owner.rest);
    },

    /** Whether a page token is one of the shared pages' (`shared:{offset}`), and its offset. */
    sharedOffset(pageToken: string | undefined): number | undefined {
      const match = pageToken === undefined ? null : SHARED_TOKEN.exec(pageToken);
      return match === null ? undefined : Number(match[1]);
    },

    /**
     * The shared experiments matching a search (same filter, order and view type as the caller's own search;
     * the filter sees the owner's own names, not the qualified ones), ordered by owner slug and then by the
     * requested order, from `offset`, at most `limit`. One audit event per owner whose experiments appear.
     */
    async search(scope: SharedReader, input: { filter?: string | undefined; orderBy?: readonly string[] | undefined; viewType?: unknown }, offset: number, limit: number): Promise<SharedExperimentPage> {
      const stages = viewTypeToStages(input.viewType);
      const where = compileExperimentFilter(input.filter, { firstParam: 4 });
      const order = compileExperimentOrderBy(input.orderBy ?? null);
      // The live experiment shares granted to the caller or an ancestor (tenant_shares' own policy decides).
      const shares = await withTenant(db, scope.tenantId, async (tx: Queryable) => (await tx.query<{ tenant_id: string; resource_name: string }>(
        `SELECT DISTINCT tenant_id, resource_name FROM tenant_shares
          WHERE tenant_id <> $1 AND resource_kind = 'experiment' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
        [scope.tenantId],
      )).rows, { readOnly: true });
      const byOwner = new Map<string, number[]>();
      for (const share of shares) byOwner.set(share.tenant_id, [...(byOwner.get(share.tenant_id) ?? []), Number(share.resource_name)]);
      if (byOwner.size === 0) return { items: [], nextPageToken: undefined };
      const { rows: owners } = await readAsSystem<{ id: string; slug: string }>(db, 'SELECT id, slug FROM tenants WHERE id = ANY($1::uuid[]) ORDER BY slug', [[...byOwner.keys()]]);
      const all: Array<{ ownerId: string; owner: string; row: ExperimentRow }> = [];
      for (const { id: ownerId, slug } of owners) {
        const rows = await withSharedRead(db, scope.tenantId, ownerId, async (tx) => (await tx.query<ExperimentRow>(
          `${EXPERIMENT_SELECT} WHERE e.tenant_id = $1 AND e.id = ANY($2::bigint[]) AND e.lifecycle_stage = ANY($3::text[]) AND (${where.sql}) ORDER BY ${order.sql}`,
          [ownerId, byOwner.get(ownerId), stages, ...where.params],
        )).rows);
        for (const row of rows) all.push({ ownerId, owner: slug, row });
      }
      const page = all.slice(offset, offset + limit);
      const seen = new Map<string, { owner: string; ids: string[] }>();
      for (const { ownerId, owner, row } of page) {
        const entry = seen.get(ownerId) ?? { owner, ids: [] };
        entry.ids.push(String(row.id));
        seen.set(ownerId, entry);
      }
      for (const [ownerId, { owner, ids }] of seen) {
        await auditSharedRead(db, scope, ownerId, ids.map((id) => `experiment:${owner}/${id}`).join(','), { via: 'experiments/search' });
      }
      return { items: page.map(({ owner, row }) => qualifiedJson(owner, row)), nextPageToken: all.length > offset + limit ? `shared:${offset + limit}` : undefined };
    },

    /** max_results as the own search validates it. */
    maxResults: (raw: unknown): number => validateMaxResults(raw, searchPageLimits.experiments),
  };
};

export type SharedExperimentReads = ReturnType<typeof createSharedExperimentReads>;
