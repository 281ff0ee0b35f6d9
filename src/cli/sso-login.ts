import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, isAppError } from '../core/errors.ts';
import { saveCliSettings } from '../config/index.ts';
import type { ApiClient } from './api-client.ts';
import { createApiClient } from './api-client.ts';

/** What the platform answers a CLI single sign-on with (device, loopback and refresh alike). */
export interface SsoSession {
  status: 'signed_in';
  token: string;
  refreshToken?: string;
  actor: string;
  role: string;
  tenant: string | null;
}

const page = (title: string, text: string): string =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><p>${text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)}</p>`;

/**
 * `bulkhead login --sso` where the IdP has no device authorization endpoint: the authorization code flow
 * with PKCE and a loopback redirect (RFC 8252). Listens on 127.0.0.1 on an ephemeral port, asks the
 * platform to start the flow with that redirect, prints the URL to open, waits for the IdP's redirect, and
 * has the platform redeem the code (the client secret stays on the platform) against the flow binding
 * only this process holds — a code injected into the port by anyone else fails there. One redirect is
 * accepted; then the listener closes. Throws UNAUTHENTICATED when the IdP refuses or nothing arrives in
 * `timeoutMs`.
 */
export const loopbackSignIn = async (options: { url: string; tenant: string | undefined; out: (text: string) => void; timeoutMs?: number }): Promise<SsoSession> => {
  const api = createApiClient({ url: options.url, token: undefined });
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
    const started = await api.request<{ url: string; flow: string }>('POST', '/api/v1/auth/oidc/loopback', { redirectUri, ...(options.tenant === undefined ? {} : { tenant: options.tenant }) });
    const received = new Promise<URLSearchParams>((resolve, reject) => {
      const timer = setTimeout(() => reject(new AppError('UNAUTHENTICATED', 'no sign-in arrived in time: run `bulkhead login --sso` again')), options.timeoutMs ?? 600_000);
      server.on('request', (req, res) => {
        const at = new URL(req.url ?? '/', redirectUri);
        if (req.method !== 'GET' || at.pathname !== '/callback') {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
          return;
        }
        clearTimeout(timer);
        const error = at.searchParams.get('error');
        res.writeHead(error === null ? 200 : 400, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
          .end(error === null ? page('Signed in', 'Bulkhead received the sign-in. You may close this window and return to the terminal.') : page('Sign-in failed', `The identity provider refused: ${error.slice(0, 100)}`));
        resolve(at.searchParams);
      });
    });
    options.out(`open ${started.url} in a browser to sign in (the identity provider has no device flow; waiting on ${redirectUri})\n`);
    const params = await received;
    const error = params.get('error');
    if (error !== null) throw new AppError('UNAUTHENTICATED', `single sign-on failed: the identity provider refused: ${error.slice(0, 100)}`);
    const code = params.get('code');
    const state = params.get('state');
    if (code === null || state === null) throw new AppError('UNAUTHENTICATED', 'single sign-on failed: the redirect carried no code or state');
    const iss = params.get('iss');
    return await api.request<SsoSession>('POST', '/api/v1/auth/oidc/loopback/token', {
      code, state, flow: started.flow, redirectUri, ...(iss === null ? {} : { iss }), ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
};

/**
 * An API client that, on a 401 with a saved single sign-on session, renews the session once with the
 * IdP's refresh token (the refresh grant, through the platform: the person's groups are read again), saves
 * it, and retries the request once. A 401 comes from authentication, before any handler ran, so the retry
 * cannot repeat a side effect. `state.refreshed` is shared by every client of one CLI run: at most one
 * refresh per run. A refresh the platform refuses (the person left their groups, the IdP session ended)
 * ends in UNAUTHENTICATED naming `bulkhead login --sso`.
 */
export const withSsoRefresh = (options: {
  url: string; token: string; refreshToken: string; tenant: string | undefined; file: string;
  state: { refreshed: boolean }; note: (text: string) => void;
}): ApiClient => {
  let current = createApiClient({ url: options.url, token: options.token });
  return {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      try {
        return await current.request<T>(method, path, body);
      } catch (error) {
        if (options.state.refreshed || !isAppError(error) || error.code !== 'UNAUTHENTICATED') throw error;
        options.state.refreshed = true;
        let renewed: SsoSession;
        try {
          renewed = await createApiClient({ url: options.url, token: undefined }).request<SsoSession>('POST', '/api/v1/auth/oidc/refresh', {
            refreshToken: options.refreshToken, ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
          });
        } catch (refreshError) {
          throw new AppError('UNAUTHENTICATED', `your single sign-on session has ended and could not be renewed (${isAppError(refreshError) ? refreshError.message : 'refresh failed'}): run \`bulkhead login --sso\``);
        }
        saveCliSettings(options.file, { url: options.url, token: renewed.token, ssoRefreshToken: renewed.refreshToken ?? options.refreshToken, ...(renewed.tenant === null ? {} : { tenant: renewed.tenant }) });
        options.note(`note: single sign-on session renewed (${renewed.actor}, ${renewed.role}${renewed.tenant === null ? '' : ` in ${renewed.tenant}`})`);
        current = createApiClient({ url: options.url, token: renewed.token });
        return current.request<T>(method, path, body);
      }
    },
  };
};
