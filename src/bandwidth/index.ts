/**
 * Bandwidth: the per-tenant byte limiter (ingress and egress bytes per second with a burst, from the
 * tenant's quota, inside an optional platform pipe shared by fair-share weight), the throttle stream every
 * byte path uses, and the per-tenant byte counters a metrics registry reads (`BandwidthLimiter.counters`).
 * Owns the decisions and the waiting; does not own the quota record (tenants/), where it is applied (the
 * HTTP hooks in http/bandwidth-hooks.ts, main/job-ports.ts), or the Kubernetes pod annotations
 * (executors/kubernetes builds them from the same quota). See docs/bandwidth.md.
 */
export { reserveBytes, transferVerdict, weightedShares, formatRate } from './bandwidth-core.ts';
export type { ByteRate, Direction, ShareClaim, TransferVerdict } from './bandwidth-core.ts';
export { createBandwidthLimiter } from './bandwidth-limiter.ts';
export type { AdmitDecision, BandwidthCounter, BandwidthLimiter, BandwidthLimiterOptions, TenantBandwidth } from './bandwidth-limiter.ts';
export { chargeBytes, createThrottleStream, throttled } from './bandwidth-stream.ts';
