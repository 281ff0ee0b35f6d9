import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { healthSchema, readinessSchema } from '../../contract/api-schemas.ts';
import { withSystem } from '../../db/index.ts';
import { AppError } from '../../core/errors.ts';
import type { HttpDeps } from '../http-deps.ts';

/** Drops undefined fields (the response schema's optional fields take absence, not undefined). */
const stripUndefined = <T extends object>(value: T): T => Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;

/** Liveness and readiness, unauthenticated and free of any tenant data. */
export const healthRoutes = (deps: HttpDeps): FastifyPluginAsyncZod => async (app) => {
  app.get('/healthz', { config: { access: 'public' }, schema: { tags: ['health'], response: { 200: healthSchema } } }, async () => ({ status: 'ok' as const }));
  app.get('/readyz', { config: { access: 'public' }, schema: { tags: ['health'], response: { 200: readinessSchema } } }, async () => {
    try {
      await withSystem(deps.db, (tx) => tx.query('SELECT 1'));
    } catch (error) {
      throw new AppError('UNAVAILABLE', 'database is not reachable', { cause: error });
    }
    const replica = deps.replicaStatus?.();
    return { status: 'ready' as const, database: deps.db.kind, rlsMode: deps.rlsMode, ...(replica === undefined ? {} : { replica: stripUndefined(replica) }) };
  });
};
