-- Endpoint tokens (BULKHEAD_EXECUTOR=kubernetes): api_tokens of kind 'endpoint', one per generation of a
-- deployment's replicas on the cluster. The pod's init container uses it to fetch that generation's model
-- artifact, and the API accepts it for nothing else (src/http/auth-hook.ts). Deleting the deployment
-- deletes its tokens.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_kind_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_kind_check CHECK (kind IN ('api', 'session', 'job', 'endpoint'));
ALTER TABLE api_tokens ADD COLUMN deployment_id uuid REFERENCES deployments (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_endpoint_deployment CHECK ((kind = 'endpoint') = (deployment_id IS NOT NULL));
CREATE INDEX api_tokens_deployment_idx ON api_tokens (deployment_id) WHERE deployment_id IS NOT NULL;
