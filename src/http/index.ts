/**
 * The HTTP API: the Fastify app, the auth hook (authenticate → resolve tenant → authorize), the one error
 * shape, and route modules. It owns no business rules: handlers call services.
 */
export { buildApp } from './app.ts';
export type { HttpDeps } from './http-deps.ts';
export type { BuildAppOptions, RouteEntry } from './app.ts';
export type { ErrorBody } from './error-handler.ts';
