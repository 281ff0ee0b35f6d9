/**
 * Process metrics under the `bulkhead_` prefix, written here rather than taken from prom-client's
 * collectDefaultMetrics: those are unprefixed and some fail `promtool check metrics` (gauges named
 * `nodejs_active_*_total`).
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

export const registerProcessMetrics = (registry: Registry): void => {
  const registers = [registry];
  let lastCpu = { user: 0, system: 0 };
  new Counter({
    name: 'bulkhead_process_cpu_seconds_total', help: 'CPU time of the platform process', labelNames: ['mode'], registers,
    collect() {
      const now = process.cpuUsage();
      this.inc({ mode: 'user' }, Math.max(0, now.user - lastCpu.user) / 1e6);
      this.inc({ mode: 'system' }, Math.max(0, now.system - lastCpu.system) / 1e6);
      lastCpu = now;
    },
  });
  new Gauge({ name: 'bulkhead_process_resident_memory_bytes', help: 'Resident set size of the platform process', registers, collect() { this.set(process.memoryUsage.rss()); } });
  new Gauge({
    name: 'bulkhead_process_heap_bytes', help: 'V8 heap of the platform process: used and total', labelNames: ['kind'], registers,
    collect() {
      const memory = process.memoryUsage();
      this.set({ kind: 'used' }, memory.heapUsed);
      this.set({ kind: 'total' }, memory.heapTotal);
    },
  });
  const started = Date.now() / 1000 - process.uptime();
  new Gauge({ name: 'bulkhead_process_start_time_seconds', help: 'Start time of the platform process since the Unix epoch', registers, collect() { this.set(started); } });
  new Gauge({
    name: 'bulkhead_process_open_fds', help: 'Open file descriptors of the platform process', registers,
    collect() {
      try {
        this.set(readdirSync('/proc/self/fd').length);
      } catch {
        // not Linux: no value
      }
    },
  });
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  new Gauge({
    name: 'bulkhead_process_event_loop_delay_seconds', help: 'Event loop delay since the previous scrape by statistic: p50, p99, max', labelNames: ['stat'], registers,
    collect() {
      this.set({ stat: 'p50' }, delay.percentile(50) / 1e9);
      this.set({ stat: 'p99' }, delay.percentile(99) / 1e9);
      this.set({ stat: 'max' }, delay.max / 1e9);
      delay.reset();
    },
  });
};
