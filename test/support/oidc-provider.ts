/**
 * A real OpenID Provider for tests: panva's certified `oidc-provider`, in-process on an ephemeral loopback
 * port, with its own RSA signing key. Users sign in through its built-in (dev) login page with any
 * password; their groups come from `groups`, which a test changes to move people in and out of groups.
 * Clients: `bulkhead` (confidential web client: code + PKCE, device flow, refresh) and machine clients
 * (client credentials) whose JWT access tokens carry `aud` = `audience` and the client's groups.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

export interface TestIdp {
  issuer: string;
  /** accountId or machine client id → groups (mutable). */
  groups: Map<string, string[]>;
  clientId: string;
  clientSecret: string;
  audience: string;
  /** Lifetime of client-credentials access tokens, seconds (mutable). */
  accessTokenTtl: { seconds: number };
  /** The provider's public signing key (JWK). */
  publicJwk: Record<string, unknown>;
  /** A JWT access token of machine client `clientId` (client credentials), `aud` = audience (`other-api` for resource `urn:other`). */
  machineToken(clientId: string, resource?: string): Promise<string>;
  close(): Promise<void>;
}

export const machineSecret = 'machine-client-secret-0123456789abcdef';

/**
 * `redirectUris` may be a function: it is called at the provider's first request, so a test can start the
 * IdP (its issuer is needed by the platform's config) before the platform whose callback URL it registers.
 */
export const startTestIdp = async (options: {
  audience?: string; redirectUris?: string[] | (() => string[]); machineClients?: string[];
  /** false: the provider offers no device authorization grant (no `device_authorization_endpoint`). */
  deviceFlow?: boolean;
  /**
   * The `bulkhead` client as a native application (RFC 8252 §7.3): a registered loopback redirect such as
   * `http://127.0.0.1/callback` matches that address on any port (the CLI's ephemeral listener).
   */
  nativeClient?: boolean;
} = {}): Promise<TestIdp> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const audience = options.audience ?? 'bulkhead-api';
  const groups = new Map<string, string[]>();
  const accessTokenTtl = { seconds: 600 };
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const clientSecret = 'bulkhead-client-secret-0123456789abcdef';
  const machineIds = new Set(options.machineClients ?? []);
  const redirectUris = (): string[] => (typeof options.redirectUris === 'function' ? options.redirectUris() : options.redirectUris ?? ['http://127.0.0.1/unused']);
  const clients = (): Record<string, unknown>[] => [{
    client_id: 'bulkhead',
    client_secret: clientSecret,
    redirect_uris: redirectUris(),
    grant_types: ['authorization_code', 'refresh_token', ...(options.deviceFlow === false ? [] : ['urn:ietf:params:oauth:grant-type:device_code'])],
    ...(options.nativeClient === true ? { application_type: 'native' } : {}),
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }, ...[...machineIds].map((id) => ({ client_id: id, client_secret: machineSecret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }))];

  const build = () => new Provider(issuer, {
    clients: clients() as never,
    jwks: { keys: [privateJwk as never] },
    conformIdTokenClaims: false,
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    pkce: { required: () => true },
    findAccount: async (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: async () => ({ sub: id, preferred_username: id, name: `Test ${id}`, email: `${id}@example.test`, groups: groups.get(id) ?? [] }),
    }),
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: options.deviceFlow !== false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:bulkhead',
        useGrantedResource: () => true,
        // `urn:other` is another API of the same IdP: its tokens carry another audience.
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({ scope: 'api', audience: resource === 'urn:other' ? 'other-api' : audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string; clientId?: string; kind: string }) => {
      const who = token.accountId ?? token.clientId;
      if (who === undefined) return undefined;
      return { groups: groups.get(who) ?? [], preferred_username: who };
    },
    ttl: {
      ClientCredentials: () => accessTokenTtl.seconds,
      AccessToken: () => accessTokenTtl.seconds,
    },
    loadExistingGrant: async (ctx: any) => {
      // Consent is implied for the test clients (no consent page): a grant of everything requested.
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid offline_access profile email groups');
      grant.addOIDCClaims(['preferred_username', 'name', 'email', 'groups']);
      grant.addResourceScope('urn:bulkhead', 'api');
      await grant.save();
      return grant;
    },
  } as never);
  let handler: ReturnType<Provider['callback']> | undefined;
  server.on('request', (req, res) => {
    handler ??= build().callback();
    handler(req, res);
  });

  const tokenOf = async (clientId: string, resource = 'urn:bulkhead'): Promise<string> => {
    const response = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${machineSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: 'api' }),
    });
    const body = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
    if (body.access_token === undefined) throw new Error(`client credentials failed: ${body.error} ${body.error_description}`);
    return body.access_token;
  };

  return {
    issuer, groups, clientId: 'bulkhead', clientSecret, audience, accessTokenTtl, publicJwk,
    machineToken: tokenOf,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
