import { AppError } from '../core/errors.ts';
import type { RequestContext } from '../core/request-context.ts';
import type { Db } from '../db/index.ts';
import { readAsSystem, withTenant } from '../db/index.ts';
import { appendAuditEvent } from '../audit/index.ts';
import { checkRoleDefinition, isBuiltInRole, parsePermissions, permissionOf, rolePermissions } from '../authz/index.ts';
import type { Action, Principal } from '../authz/index.ts';

export interface CustomRole {
  name: string;
  description: string;
  permissions: string[];
  createdAt: string;
  updatedAt: string;
}

interface RoleRow { name: string; description: string; permissions: string[]; created_at: Date; updated_at: Date }

const toRole = (row: RoleRow): CustomRole => ({
  name: row.name,
  description: row.description,
  permissions: [...row.permissions].sort(),
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

export const roleErrors = {
  notFound: (name: string) => new AppError('NOT_FOUND', `role '${name}' not found`),
  exists: (name: string) => new AppError('CONFLICT', `a role named '${name}' already exists`),
  builtIn: (name: string) => new AppError('CONFLICT', `'${name}' is a built-in role: it cannot be defined or changed`),
  inUse: (name: string, count: number) => new AppError('CONFLICT', `role '${name}' is held by ${count} member(s) or live token(s): reassign them first`),
};

export interface RoleService {
  list(tenantId: string): Promise<CustomRole[]>;
  /** Defines a role; the creator must hold every permission in it (checkRoleDefinition). Audited `role.create`. */
  create(ctx: RequestContext, creator: Principal, tenantId: string, input: { name: string; description?: string | undefined; permissions: string[] }): Promise<CustomRole>;
  /** Replaces a role's permissions (same escalation check); principals holding it see the change within the auth cache TTL. Audited `role.update`. */
  update(ctx: RequestContext, creator: Principal, tenantId: string, name: string, input: { description?: string | undefined; permissions: string[] }): Promise<CustomRole>;
  /** Deletes a role nobody holds (CONFLICT otherwise). Audited `role.delete`. */
  remove(ctx: RequestContext, tenantId: string, name: string): Promise<void>;
  /**
   * The actions a role holds in a tenant: a built-in role's table, a custom role's set, or undefined for
   * a name that is neither. Cross-tenant read by primary key (the authenticating path).
   */
  actionsOf(tenantId: string, role: string): Promise<ReadonlySet<Action> | undefined>;
}

/** Tenant-defined roles (tenant_roles, migration 0025): sets of the permission catalogue. */
export const createRoleService = (options: { db: Db; onChange?: (() => void) | undefined }): RoleService => {
  const { db } = options;
  const changed = () => options.onChange?.();
  const columns = 'name, description, permissions, created_at, updated_at';
  return {
    async list(tenantId) {
      return withTenant(db, tenantId, async (tx) => (await tx.query<RoleRow>(`SELECT ${columns} FROM tenant_roles ORDER BY name`)).rows.map(toRole), { readOnly: true });
    },

    async create(ctx, creator, tenantId, input) {
      if (isBuiltInRole(input.name) || input.name === 'platform_admin') throw roleErrors.builtIn(input.name);
      const held = checkRoleDefinition(creator, input.permissions);
      const permissions = [...held].map(permissionOf).sort();
      return withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<RoleRow>(
          `INSERT INTO tenant_roles (tenant_id, name, description, permissions) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${columns}`,
          [tenantId, input.name, input.description ?? '', permissions]);
        if (rows[0] === undefined) throw roleErrors.exists(input.name);
        await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'role.create', target: `role:${input.name}`, outcome: 'success', requestId: ctx.requestId, details: { permissions } });
        return toRole(rows[0]);
      });
    },

    async update(ctx, creator, tenantId, name, input) {
      if (isBuiltInRole(name)) throw roleErrors.builtIn(name);
      const held = checkRoleDefinition(creator, input.permissions);
      const permissions = [...held].map(permissionOf).sort();
      const role = await withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<RoleRow>(
          `UPDATE tenant_roles SET permissions = $2, description = COALESCE($3, description), updated_at = now() WHERE name = $1 RETURNING ${columns}`,
          [name, permissions, input.description ?? null]);
        if (rows[0] === undefined) throw roleErrors.notFound(name);
        await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'role.update', target: `role:${name}`, outcome: 'success', requestId: ctx.requestId, details: { permissions } });
        return toRole(rows[0]);
      });
      changed();
      return role;
    },

    async remove(ctx, tenantId, name) {
      if (isBuiltInRole(name)) throw roleErrors.builtIn(name);
      await withTenant(db, tenantId, async (tx) => {
        const { rows } = await tx.query<{ n: number }>(
          `SELECT ((SELECT count(*) FROM memberships WHERE role = $1) + (SELECT count(*) FROM api_tokens WHERE role = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())))::int AS n`,
          [name]);
        const inUse = rows[0]?.n ?? 0;
        if (inUse > 0) throw roleErrors.inUse(name, inUse);
        const { rowCount } = await tx.query('DELETE FROM tenant_roles WHERE name = $1', [name]);
        if (rowCount === 0) throw roleErrors.notFound(name);
        await appendAuditEvent(tx, { tenantId, actor: ctx.actor, action: 'role.delete', target: `role:${name}`, outcome: 'success', requestId: ctx.requestId });
      });
      changed();
    },

    async actionsOf(tenantId, role) {
      if (isBuiltInRole(role)) return rolePermissions[role];
      const { rows } = await readAsSystem<{ permissions: string[] }>(db, 'SELECT permissions FROM tenant_roles WHERE tenant_id = $1 AND name = $2', [tenantId, role]);
      const row = rows[0];
      return row === undefined ? undefined : parsePermissions(row.permissions).actions;
    },
  };
};
