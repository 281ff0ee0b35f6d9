-- Commit-ahead writes (issue 20 item 4): a transaction whose COMMIT is sent together with its statements
-- (TransactionOptions.commitAhead) cannot be rolled back by the application after reading a result, so a
-- check that must undo the whole transaction fails inside SQL instead. bulkhead_refuse(true, reason) raises
-- SQLSTATE BH001 (the statement, then the transaction, fails; the COMMIT behind it rolls back); false
-- returns true, so it can stand in a select list or a WHERE clause. `reason` names the check, never data.
-- Volatile (the default): evaluated for every row, never folded away.
CREATE FUNCTION bulkhead_refuse(refuse boolean, reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF refuse THEN
    RAISE EXCEPTION 'bulkhead: refused (%)', reason USING ERRCODE = 'BH001';
  END IF;
  RETURN true;
END $$;
