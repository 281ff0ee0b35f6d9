/**
 * The at-rest format of a blob: chunked AES-256-GCM frames, and the wrapping of tenant data keys.
 *
 *   header  = "BHB1" | frame size (uint32 BE) | salt (32 random bytes)            40 bytes
 *   frame i = AES-256-GCM(fileKey, nonce = 0x00000000 | i (uint64 BE),
 *                         aad = header | i (uint64 BE) | final (1 byte)) → ciphertext | tag (16)
 *
 * `fileKey = HKDF-SHA256(tenant data key, salt, "bulkhead:blob:v1")`, so every file has its own key and
 * the frame counter is a safe nonce. Every frame but the last holds exactly `frameSize` plaintext bytes;
 * the last (possibly empty) one is authenticated as final. Truncating at a frame boundary therefore fails
 * (the new last frame was sealed as not final), so does reordering (the index is in nonce and aad), and
 * so does decrypting with another tenant's key (GCM tag mismatch on the first frame).
 *
 * Nothing here touches the file system or the database.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

export const FRAME_SIZE = 64 * 1024;
const MAGIC = Buffer.from('BHB1', 'ascii');
export const HEADER_SIZE = 40;
const TAG_SIZE = 16;

/** Thrown (as a stream error) when a blob does not authenticate: wrong key, tampering, truncation. */
export class BlobIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlobIntegrityError';
  }
}

const fileKey = (dataKey: Buffer, salt: Buffer): Buffer => Buffer.from(hkdfSync('sha256', dataKey, salt, 'bulkhead:blob:v1', 32));

const nonceFor = (index: number): Buffer => {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(index), 4);
  return nonce;
};

const aadFor = (header: Buffer, index: number, final: boolean): Buffer => {
  const aad = Buffer.alloc(HEADER_SIZE + 9);
  header.copy(aad, 0);
  aad.writeBigUInt64BE(BigInt(index), HEADER_SIZE);
  aad[HEADER_SIZE + 8] = final ? 1 : 0;
  return aad;
};

/**
 * A Transform from plaintext to the blob format. It also hashes the plaintext (SHA-256) and counts it;
 * read `digest()` and `size()` after it has finished. It holds at most one frame of plaintext.
 */
export interface EncryptStream extends Transform {
  digest(): string;
  size(): number;
}

export const createEncryptStream = (dataKey: Buffer, frameSize = FRAME_SIZE): EncryptStream => {
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(frameSize, 4);
  randomBytes(32).copy(header, 8);
  const key = fileKey(dataKey, header.subarray(8));
  const hash = createHash('sha256');
  let total = 0;
  let index = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let digestHex: string | undefined;

  // Pushes one sealed frame as two buffers (ciphertext, then tag): no copy of the frame beyond the cipher's.
  const seal = (target: Transform, plaintext: Buffer, final: boolean): void => {
    const cipher = createCipheriv('aes-256-gcm', key, nonceFor(index));
    cipher.setAAD(aadFor(header, index, final));
    const body = cipher.update(plaintext);
    const tail = cipher.final();
    index += 1;
    if (body.length > 0) target.push(body);
    target.push(tail.length === 0 ? cipher.getAuthTag() : Buffer.concat([tail, cipher.getAuthTag()]));
  };

  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      total += chunk.length;
      pending.push(chunk);
      pendingBytes += chunk.length;
      // A full frame is sealed as not final only once we know more bytes follow it.
      while (pendingBytes > frameSize) {
        const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        seal(this, all.subarray(0, frameSize), false);
        const rest = all.subarray(frameSize);
        pending = [rest];
        pendingBytes = rest.length;
      }
      callback();
    },
    flush(callback: TransformCallback) {
      const last = Buffer.concat(pending, pendingBytes);
      pending = [];
      seal(this, last, true);
      digestHex = hash.digest('hex');
      callback();
    },
  }) as EncryptStream;
  stream.push(header);
  stream.digest = () => {
    if (digestHex === undefined) throw new Error('digest read before the stream finished');
    return digestHex;
  };
  stream.size = () => total;
  return stream;
};

export interface DecryptOptions {
  /** When given, the plaintext's SHA-256 must match, checked at the end (the stream errors otherwise). */
  expectedDigest?: string | undefined;
  expectedSize?: number | undefined;
}

/** A Transform from the blob format back to plaintext; errors with BlobIntegrityError on any mismatch. */
export const createDecryptStream = (dataKey: Buffer, options: DecryptOptions = {}): Transform => {
  let header: Buffer | undefined;
  let key: Buffer | undefined;
  let frameSize = 0;
  let index = 0;
  let pending: Buffer = Buffer.alloc(0);
  let total = 0;
  const hash = options.expectedDigest === undefined ? undefined : createHash('sha256');

  const open = (sealed: Buffer, final: boolean): Buffer => {
    if (sealed.length < TAG_SIZE) throw new BlobIntegrityError('blob is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key!, nonceFor(index));
    decipher.setAAD(aadFor(header!, index, final));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
    const body = decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE));
    try {
      decipher.final();
    } catch {
      throw new BlobIntegrityError('blob does not authenticate (wrong key, tampered or truncated)');
    }
    index += 1;
    total += body.length;
    hash?.update(body);
    return body;
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        if (header === undefined) {
          if (pending.length < HEADER_SIZE) return callback();
          header = Buffer.from(pending.subarray(0, HEADER_SIZE));
          if (!header.subarray(0, 4).equals(MAGIC)) throw new BlobIntegrityError('not a Bulkhead blob');
          frameSize = header.readUInt32BE(4);
          if (frameSize < 1 || frameSize > 16 * 1024 * 1024) throw new BlobIntegrityError('bad frame size');
          key = fileKey(dataKey, header.subarray(8));
          pending = pending.subarray(HEADER_SIZE);
        }
        const sealedFrame = frameSize + TAG_SIZE;
        // A frame is known not to be the last only when more bytes follow it.
        let offset = 0;
        while (pending.length - offset > sealedFrame) {
          this.push(open(pending.subarray(offset, offset + sealedFrame), false));
          offset += sealedFrame;
        }
        if (offset > 0) pending = pending.subarray(offset);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        if (header === undefined) throw new BlobIntegrityError('blob is truncated');
        this.push(open(pending, true));
        if (options.expectedSize !== undefined && total !== options.expectedSize) throw new BlobIntegrityError('blob has the wrong size');
        if (hash !== undefined && hash.digest('hex') !== options.expectedDigest) throw new BlobIntegrityError('blob content does not match its digest');
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
};

/** Wraps a tenant's data key with the key-encryption key; the tenant id is bound as associated data. */
export const wrapDataKey = (kek: Buffer, tenantId: string, dataKey: Buffer): string => {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from(`bulkhead:data-key:${tenantId}`));
  const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return `v1.${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
};

/** Unwraps a data key; throws when the wrapped key was made for another tenant or another master key. */
export const unwrapDataKey = (kek: Buffer, tenantId: string, wrapped: string): Buffer => {
  if (!wrapped.startsWith('v1.')) throw new BlobIntegrityError('unknown data key format');
  const raw = Buffer.from(wrapped.slice(3), 'base64');
  if (raw.length !== 12 + 32 + TAG_SIZE) throw new BlobIntegrityError('malformed wrapped data key');
  const decipher = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(`bulkhead:data-key:${tenantId}`));
  decipher.setAuthTag(raw.subarray(12 + 32));
  try {
    return Buffer.concat([decipher.update(raw.subarray(12, 12 + 32)), decipher.final()]);
  } catch {
    throw new BlobIntegrityError('data key does not unwrap (wrong master key or tenant)');
  }
};
