-- Issue 14: a token narrowed to named registered models and deployments (names, checked to exist when the
-- token is made), beside the experiments of 0026. A narrowed token reaches the union of its named
-- experiments, models and deployments; everything else of its tenant is NOT_FOUND to it
-- (src/authz/resource-scope.ts). NULL: not narrowed by that kind. Existing tokens are unaffected.
ALTER TABLE api_tokens ADD COLUMN scope_models text[];
ALTER TABLE api_tokens ADD COLUMN scope_deployments text[];
