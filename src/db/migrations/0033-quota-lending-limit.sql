-- Lending limits on the tenant quota (issue 15, Kueue's lendingLimit): how much of its unused nominal
-- capacity a tenant lends to its siblings' subtrees, per resource. NULL: all of it (the default, as before).
-- The rest of its nominal (nominal − lending limit) stays reserved for the tenant even while idle. The
-- borrowing limits are the borrow_* columns of 0001. tenant_quotas keeps its row-level security from 0001;
-- the new columns need no policy of their own.
ALTER TABLE tenant_quotas
  ADD COLUMN lend_cpu numeric NULL CHECK (lend_cpu >= 0),
  ADD COLUMN lend_memory_mib bigint NULL CHECK (lend_memory_mib >= 0),
  ADD COLUMN lend_gpu integer NULL CHECK (lend_gpu >= 0);
