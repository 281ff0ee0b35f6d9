/**
 * The sealer's one decision per tenant, kept pure: may new events be sealed onto this chain? Only when the
 * chain's last sealed event is exactly the head this platform signed last. Everything else is tampering (or
 * a bug), and the tenant's chain stops growing until someone looks; other tenants are not affected.
 */

export type AuditAlertKind =
  /** A pending event whose MAC is missing or wrong: written by someone without the key. Not sealed. */
  | 'forged_event'
  /** A signed head (checkpoint or heads file) lies beyond the chain's end: the newest events were deleted. */
  | 'head_regressed'
  /** The chain's last event is covered by no signed checkpoint: rows added past the head, or its checkpoint deleted. */
  | 'unanchored_head'
  /** A checkpoint row at or past the head that this platform did not sign. */
  | 'checkpoint_conflict'
  /** The chain's last event differs from the signed head at the same position. */
  | 'head_mismatch'
  /** Writing the seal failed (a conflicting row appeared meanwhile); nothing of this tenant was sealed. */
  | 'seal_conflict';

export interface ChainPoint {
  seq: number;
  hash: string;
}

export interface CheckpointSeen extends ChainPoint {
  /** The checkpoint's signature verifies with the platform's key. */
  valid: boolean;
}

export interface FileHead extends ChainPoint {
  /** true: signature verifies; false: it does not; undefined: an unsigned entry of a heads file from before 0012. */
  valid: boolean | undefined;
  signature?: string;
}

export type HeadVerdict =
  | { ok: true }
  | {
      ok: false;
      kind: AuditAlertKind;
      seq: number;
      message: string;
      /** A signed head from the heads file that the database lost: written back as a checkpoint row. */
      reassert?: { seq: number; hash: string; signature: string };
    };

/**
 * @param chainHead the tenant's sealed event with the highest chain_seq, undefined when none
 * @param checkpoints every checkpoint row of the tenant at or beyond `chainHead.seq` (signature checked)
 * @param fileHead the tenant's entry of the heads file, when there is one
 * @param hashAtFileHead the chain's hash at `fileHead.seq` when that lies inside the chain (an older head
 *   this process signed, e.g. another server sealed since): the chain must still pass through it
 */
export const checkChainHead = (
  chainHead: ChainPoint | undefined,
  checkpoints: readonly CheckpointSeen[],
  fileHead: FileHead | undefined,
  hashAtFileHead?: string,
): HeadVerdict => {
  const headSeq = chainHead?.seq ?? 0;
  const beyond = checkpoints.filter((checkpoint) => checkpoint.seq > headSeq).sort((a, b) => b.seq - a.seq);
  const signedBeyond = beyond.find((checkpoint) => checkpoint.valid);
  if (signedBeyond !== undefined) {
    return { ok: false, kind: 'head_regressed', seq: signedBeyond.seq, message: `a signed checkpoint covers event ${signedBeyond.seq} but the chain ends at ${headSeq}: the newest events were deleted` };
  }
  if (fileHead !== undefined && fileHead.valid !== false && fileHead.seq > headSeq) {
    return {
      ok: false, kind: 'head_regressed', seq: fileHead.seq,
      message: `the recorded chain head is event ${fileHead.seq} but the chain ends at ${headSeq}: the newest events and their checkpoints were deleted`,
      ...(fileHead.valid === true && fileHead.signature !== undefined ? { reassert: { seq: fileHead.seq, hash: fileHead.hash, signature: fileHead.signature } } : {}),
    };
  }
  if (beyond.length > 0) {
    return { ok: false, kind: 'checkpoint_conflict', seq: beyond[0]!.seq, message: `a checkpoint row at event ${beyond[0]!.seq}, past the chain's end (${headSeq}), is not signed by this platform` };
  }
  if (chainHead !== undefined) {
    const atHead = checkpoints.filter((checkpoint) => checkpoint.seq === chainHead.seq);
    const signed = atHead.find((checkpoint) => checkpoint.valid);
    if (signed === undefined) {
      return atHead.length > 0
        ? { ok: false, kind: 'checkpoint_conflict', seq: chainHead.seq, message: `the checkpoint at the chain's last event ${chainHead.seq} is not signed by this platform` }
        : { ok: false, kind: 'unanchored_head', seq: chainHead.seq, message: `no signed checkpoint covers the chain's last event ${chainHead.seq}: events were added past the signed head, or its checkpoint was deleted` };
    }
    if (signed.hash !== chainHead.hash) {
      return { ok: false, kind: 'head_mismatch', seq: chainHead.seq, message: `event ${chainHead.seq} differs from its signed checkpoint` };
    }
  }
  if (fileHead !== undefined && fileHead.valid !== false && fileHead.seq > 0) {
    const actual = fileHead.seq === headSeq ? chainHead?.hash : hashAtFileHead;
    if (actual !== undefined && actual !== fileHead.hash) {
      // Typically: the newest events and their checkpoints were deleted and a sealer without this heads
      // file sealed new events onto the shortened chain.
      return { ok: false, kind: 'head_mismatch', seq: fileHead.seq, message: `event ${fileHead.seq} differs from the chain head this platform recorded: the chain was rewritten from there` };
    }
  }
  return { ok: true };
};
