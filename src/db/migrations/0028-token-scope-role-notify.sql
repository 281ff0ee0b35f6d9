-- Issue 14: a token narrowed to named registered models and deployments (names, checked to exist when the
-- token is made), beside the experiments of 0026. A narrowed token reaches the union of its named
-- experiments, models and deployments; everything else of its tenant is NOT_FOUND to it
-- (src/authz/resource-scope.ts). NULL: not narrowed by that kind. Existing tokens are unaffected.
ALTER TABLE api_tokens ADD COLUMN scope_models text[];
ALTER TABLE api_tokens ADD COLUMN scope_deployments text[];

-- Custom-role edits reach every replica at once: a committed change to a role's permissions (or its
-- deletion) notifies `role:<tenant id>` on bulkhead_invalidate (migration 0020's function), and every
-- replica drops its cached principals (src/main/platform.ts); the auth cache TTL stays the fallback.
CREATE TRIGGER tenant_roles_invalidate AFTER INSERT OR UPDATE OR DELETE ON tenant_roles
  FOR EACH ROW EXECUTE FUNCTION bulkhead_notify_invalidate('role');
