/**
 * Live views: a deployment's recent requests (refreshed every few seconds, from this server process's
 * inference window) and the platform admins' scheduler page (queue and fair share per tenant).
 */
import { useEffect, useState } from 'preact/hooks';
import { request, tenantApi } from './api.ts';
import { Empty, ErrorBox, Loading } from './common.tsx';

/** Loads `load()` now and every `everyMs` while mounted; keeps the last value while the next one loads. */
const usePoll = <T,>(load: () => Promise<T>, everyMs: number, deps: unknown[]): [T | undefined, unknown] => {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      load().then((v) => {
        if (!live) return;
        setValue(v);
        setError(undefined);
      }, (e: unknown) => live && setError(e)).finally(() => {
        if (live) timer = setTimeout(tick, everyMs);
      });
    };
    tick();
    return () => {
      live = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, deps);
  return [value, error];
};

interface DeploymentStats { windowSeconds: number; requests: number; requestsPerSecond: number; p50Ms: number | null; p99Ms: number | null; rateLimited: number; serverErrors: number }

const ms = (value: number | null) => (value === null ? '–' : `${value.toFixed(1)} ms`);

export const DeploymentLive = ({ tenant, name }: { tenant: string; name: string }) => {
  const [stats, error] = usePoll(() => request('GET', tenantApi(tenant, `/deployments/${encodeURIComponent(name)}/stats`)) as Promise<DeploymentStats>, 3000, [tenant, name]);
  if (error !== undefined && stats === undefined) return <ErrorBox error={error} />;
  if (stats === undefined) return <Loading what="request statistics" />;
  return (
    <div class="live" role="group" aria-label={`live requests of ${name}`} data-requests={stats.requests}>
      <dl class="live-stats">
        <div><dt>Requests/s</dt><dd>{stats.requestsPerSecond}</dd></div>
        <div><dt>Requests</dt><dd>{stats.requests}</dd></div>
        <div><dt>p50</dt><dd>{ms(stats.p50Ms)}</dd></div>
        <div><dt>p99</dt><dd>{ms(stats.p99Ms)}</dd></div>
        <div><dt>429s</dt><dd>{stats.rateLimited}</dd></div>
        <div><dt>5xx</dt><dd>{stats.serverErrors}</dd></div>
      </dl>
      <p class="meta">last {stats.windowSeconds} s, requests served by this server process; refreshed every 3 s</p>
    </div>
  );
};

interface SchedulerTenant { tenantId: string; slug: string; name: string; status: string; weight: number; queued: number; admitted: number; running: number; runningCpu: number; entitledShare: number; cpuShare: number }
interface SchedulerView { queued: number; admitted: number; running: number; runningCpu: number; tenants: SchedulerTenant[] }

const pct = (share: number) => `${(share * 100).toFixed(1)} %`;

export const AdminScheduler = () => {
  const [view, error] = usePoll(() => request('GET', '/api/v1/platform/scheduler') as Promise<SchedulerView>, 5000, []);
  if (error !== undefined && view === undefined) return <ErrorBox error={error} />;
  if (view === undefined) return <Loading what="the scheduler" />;
  const busy = view.tenants.filter((t) => t.queued + t.admitted + t.running > 0);
  return (
    <section>
      <h1>Scheduler</h1>
      <p class="meta" aria-label="queue totals">{view.queued} queued · {view.admitted} admitted · {view.running} running ({Number(view.runningCpu.toFixed(2))} CPU cores) · refreshed every 5 s</p>
      {error !== undefined && <ErrorBox error={error} />}
      {busy.length === 0 ? <Empty>No tenant has jobs queued or running.</Empty> : null}
      <table>
        <caption>Fair share per tenant: entitled (its weight over the weights of tenants with work) against received (its share of running jobs' CPU)</caption>
        <thead><tr><th scope="col">Tenant</th><th scope="col">Status</th><th scope="col">Weight</th><th scope="col">Queued</th><th scope="col">Admitted</th><th scope="col">Running</th><th scope="col">CPU running</th><th scope="col">Entitled share</th><th scope="col">Received share</th></tr></thead>
        <tbody>{view.tenants.map((t) => (
          <tr key={t.tenantId} data-tenant={t.slug}>
            <th scope="row">{t.slug}</th><td>{t.status}</td><td>{t.weight}</td><td>{t.queued}</td><td>{t.admitted}</td><td>{t.running}</td><td>{Number(t.runningCpu.toFixed(2))}</td>
            <td><meter min={0} max={1} value={t.entitledShare} aria-label={`entitled share of ${t.slug}: ${pct(t.entitledShare)}`} /> {pct(t.entitledShare)}</td>
            <td><meter min={0} max={1} value={t.cpuShare} aria-label={`received share of ${t.slug}: ${pct(t.cpuShare)}`} /> {pct(t.cpuShare)}</td>
          </tr>
        ))}</tbody>
      </table>
    </section>
  );
};
