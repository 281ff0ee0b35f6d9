/** Key management: the master key and purpose-bound sub-keys. Owns no per-tenant data keys (artifacts do). */
export { loadMasterKey, hmacHex } from './master-key.ts';
export type { MasterKey } from './master-key.ts';
