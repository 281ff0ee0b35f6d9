import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { tenantParamsSchema } from '../../contract/api-schemas.ts';
import { isTerminalJobState, jobListSchema, jobLogsQuerySchema, jobOutputsSchema, jobParamsSchema, jobSchema, listJobsQuerySchema, submitJobSchema } from '../../contract/job-schemas.ts';
import type { Job } from '../../contract/job-schemas.ts';
import type { JobRunner, JobService, JobStore } from '../../jobs/index.ts';
import { contextOf } from '../http-deps.ts';
import { requireTenant } from '../route-config.ts';

/** Training jobs: submit, list, show, cancel, logs (also followed), outputs, and "why am I waiting?". */
export const jobRoutes = (deps: { store: JobStore; service: JobService; runner: JobRunner }): FastifyPluginAsyncZod => async (app) => {
  app.post('/api/v1/tenants/:tenant/jobs', {
    config: { access: 'jobs.write' },
    schema: { tags: ['jobs'], summary: 'Submit a training job', params: tenantParamsSchema, body: submitJobSchema, response: { 201: jobSchema } },
  }, async (request, reply) => {
    const job = await deps.service.submit(contextOf(request), requireTenant(request.tenant), request.body);
    return reply.code(201).send(job);
  });

  app.get('/api/v1/tenants/:tenant/jobs', {
    config: { access: 'jobs.read' },
    schema: {
      tags: ['jobs'], summary: 'List jobs, newest first', params: tenantParamsSchema,
      querystring: listJobsQuerySchema,
      response: { 200: jobListSchema },
    },
  }, async (request) => ({ jobs: await deps.store.list(requireTenant(request.tenant).id, { status: request.query.status, limit: request.query.limit, before: request.query.before }) }));

  app.get('/api/v1/tenants/:tenant/jobs/:id', {
    config: { access: 'jobs.read' },
    schema: { tags: ['jobs'], summary: 'Show a job', params: jobParamsSchema, response: { 200: jobSchema } },
  }, async (request) => deps.store.get(requireTenant(request.tenant).id, request.params.id));

  app.post('/api/v1/tenants/:tenant/jobs/:id/cancel', {
    config: { access: 'jobs.write' },
    schema: { tags: ['jobs'], summary: 'Cancel a job (its whole process tree is killed)', params: jobParamsSchema, response: { 200: jobSchema } },
  }, async (request) => {
    const tenant = requireTenant(request.tenant);
    const job = await deps.store.requestCancel(contextOf(request), tenant.id, request.params.id);
    deps.runner.cancel(job.id);
    return job;
  });

  app.get('/api/v1/tenants/:tenant/jobs/:id/logs', {
    config: { access: 'jobs.read' },
    schema: {
      tags: ['jobs'], summary: "A job's output as text; follow=true streams until the job ends", params: jobParamsSchema,
      querystring: jobLogsQuerySchema,
    },
  }, async (request, reply) => {
    const tenantId = requireTenant(request.tenant).id;
    const jobId = request.params.id;
    const first = await deps.store.get(tenantId, jobId); // NOT_FOUND before any output
    const follow = request.query.follow === 'true';
    const store = deps.store;
    async function* lines(): AsyncGenerator<string> {
      let after = request.query.after;
      let job: Job = first;
      for (;;) {
        const batch = await store.readLogs(tenantId, jobId, after, 1000);
        for (const line of batch) yield `${line.line}\n`;
        if (batch.length > 0) after = batch.at(-1)!.seq;
        if (batch.length === 1000) continue;
        if (!follow || isTerminalJobState(job.status)) {
          if (!follow) return;
          // One more read after the end: lines flushed as the job finished.
          const tail = await store.readLogs(tenantId, jobId, after, 100_000);
          for (const line of tail) yield `${line.line}\n`;
          return;
        }
        if (request.raw.destroyed) return;
        await new Promise((resolve) => setTimeout(resolve, 300));
        job = await store.get(tenantId, jobId);
      }
    }
    return reply.type('text/plain; charset=utf-8').send(Readable.from(lines()));
  });

  app.get('/api/v1/tenants/:tenant/jobs/:id/outputs', {
    config: { access: 'jobs.read' },
    schema: { tags: ['jobs'], summary: "Files the job wrote to /outputs, stored as the tenant's artifacts", params: jobParamsSchema, response: { 200: jobOutputsSchema } },
  }, async (request) => ({ outputs: (await deps.store.get(requireTenant(request.tenant).id, request.params.id)).outputs }));

  app.get('/api/v1/tenants/:tenant/jobs/:id/explain', {
    config: { access: 'jobs.read' },
    schema: { tags: ['jobs'], summary: 'Why is this job waiting: the quota or pool resource that blocks it, its tenant share, its position', params: jobParamsSchema },
  }, async (request) => {
    const job = await deps.store.get(requireTenant(request.tenant).id, request.params.id);
    if (job.status !== 'queued') return { jobId: job.id, status: job.status, waiting: false, summary: `the job is ${job.status}, not waiting` };
    if (deps.runner.admission() === 'kueue') {
      return { jobId: job.id, status: job.status, waiting: true, summary: "admission is Kueue's on this platform: the job waits in its tenant's LocalQueue on the cluster (its Workload's conditions say why)" };
    }
    const explanation = await deps.runner.explain(job);
    return { status: job.status, waiting: true, ...(explanation === undefined ? { jobId: job.id, summary: 'the job is waiting for the next scheduling pass' } : explanation) };
  });
};
