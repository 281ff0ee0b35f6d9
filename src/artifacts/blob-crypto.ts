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
 * The frame size is per blob (in the header): 64 KiB for blobs written before 1 MiB frames became the
 * default; both (any size up to 16 MiB) are read.
 *
 * Nothing here touches the file system or the database.
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, randomBytes } from 'node:crypto';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

/**
 * Plaintext bytes per frame for new blobs. The header carries each blob's frame size and readers accept
 * any size up to MAX_FRAME_SIZE, so blobs written with the former 64 KiB frames still decrypt.
 */
export const FRAME_SIZE = 1024 * 1024;
export const LEGACY_FRAME_SIZE = 64 * 1024;
const MAX_FRAME_SIZE = 16 * 1024 * 1024;
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
 * The sealing half of the format without any stream machinery: feed plaintext chunks, get sealed bytes
 * (header, then per frame ciphertext pieces and the tag) appended to `out`, ready to be written in order.
 * It hashes (SHA-256) and counts the plaintext. Chunks are not copied: it keeps references to the chunks
 * of the current frame (at most `frameSize` bytes) and encrypts them piecewise when the frame is sealed,
 * which happens once we know more bytes follow it (a full frame is sealed as not final) or at `final()`.
 */
export interface BlobSealer {
  update(chunk: Buffer, out: Buffer[]): void;
  /** Seals the last (possibly empty) frame as final and finishes the digest. */
  final(out: Buffer[]): void;
  digest(): string;
  size(): number;
  /**
   * Plaintext bytes received but not sealed yet (the current frame): the sealer still holds references to
   * them, so a caller that feeds it views of a reusable buffer may reuse only what lies before them.
   */
  pendingBytes(): number;
}

/** What a blob's sealer needs and nothing more: its header (random salt) and the per-file key. */
export interface BlobSealingKey {
  header: Buffer;
  fileKey: Buffer;
}

/** Draws a new blob's salt and derives its file key from the tenant data key. */
export const newBlobSealingKey = (dataKey: Buffer, frameSize = FRAME_SIZE): BlobSealingKey => {
  if (!Number.isInteger(frameSize) || frameSize < 1 || frameSize > MAX_FRAME_SIZE) throw new Error('bad frame size');
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(frameSize, 4);
  randomBytes(32).copy(header, 8);
  return { header, fileKey: fileKey(dataKey, header.subarray(8)) };
};

export const createBlobSealer = (dataKey: Buffer, frameSize = FRAME_SIZE): BlobSealer => sealerFor(newBlobSealingKey(dataKey, frameSize));

/**
 * A sealer from a prepared key (e.g. in a worker thread, which then never sees the tenant data key). The
 * key becomes a KeyObject once, not once per frame.
 */
export const sealerFor = (prepared: BlobSealingKey): BlobSealer => {
  const header = Buffer.from(prepared.header);
  if (header.length !== HEADER_SIZE || !header.subarray(0, 4).equals(MAGIC)) throw new Error('bad blob header');
  const frameSize = header.readUInt32BE(4);
  if (frameSize < 1 || frameSize > MAX_FRAME_SIZE) throw new Error('bad frame size');
  const key = createSecretKey(prepared.fileKey);
  const hash = createHash('sha256');
  let total = 0;
  let index = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let headerOut = false;
  let digestHex: string | undefined;

  const seal = (out: Buffer[], final: boolean): void => {
    const cipher = createCipheriv('aes-256-gcm', key, nonceFor(index));
    cipher.setAAD(aadFor(header, index, final));
    for (const piece of pending) {
      const body = cipher.update(piece);
      if (body.length > 0) out.push(body);
    }
    const tail = cipher.final();
    if (tail.length > 0) out.push(tail);
    out.push(cipher.getAuthTag());
    index += 1;
    pending = [];
    pendingBytes = 0;
  };

  return {
    update(chunk, out) {
      if (digestHex !== undefined) throw new Error('sealer already finished');
      if (!headerOut) {
        out.push(header);
        headerOut = true;
      }
      if (chunk.length === 0) return;
      hash.update(chunk);
      total += chunk.length;
      let offset = 0;
      while (offset < chunk.length) {
        // A full frame is sealed as not final only now that we know more bytes follow it.
        if (pendingBytes === frameSize) seal(out, false);
        const take = Math.min(frameSize - pendingBytes, chunk.length - offset);
        pending.push(offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
        pendingBytes += take;
        offset += take;
      }
    },
    final(out) {
      if (digestHex !== undefined) throw new Error('sealer already finished');
      if (!headerOut) {
        out.push(header);
        headerOut = true;
      }
      seal(out, true);
      digestHex = hash.digest('hex');
    },
    digest() {
      if (digestHex === undefined) throw new Error('digest read before the stream finished');
      return digestHex;
    },
    size: () => total,
    pendingBytes: () => pendingBytes,
  };
};

/**
 * A Transform from plaintext to the blob format (a `BlobSealer` in a stream). Read `digest()` and
 * `size()` after it has finished. It holds at most one frame of plaintext.
 */
export interface EncryptStream extends Transform {
  digest(): string;
  size(): number;
}

export const createEncryptStream = (dataKey: Buffer, frameSize = FRAME_SIZE): EncryptStream => {
  const sealer = createBlobSealer(dataKey, frameSize);
  const emit = (target: Transform, out: Buffer[]): void => {
    for (const piece of out) target.push(piece);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const out: Buffer[] = [];
      sealer.update(chunk, out);
      emit(this, out);
      callback();
    },
    flush(callback: TransformCallback) {
      const out: Buffer[] = [];
      sealer.final(out);
      emit(this, out);
      callback();
    },
  }) as EncryptStream;
  stream.digest = () => sealer.digest();
  stream.size = () => sealer.size();
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
  // Received, not yet opened bytes as a list (no copy per chunk); `take` joins only what one frame needs.
  let chunks: Buffer[] = [];
  let buffered = 0;
  let total = 0;
  const hash = options.expectedDigest === undefined ? undefined : createHash('sha256');

  const take = (bytes: number): Buffer => {
    const first = chunks[0]!;
    let result: Buffer;
    if (first.length >= bytes) {
      result = first.subarray(0, bytes);
      if (first.length === bytes) chunks.shift();
      else chunks[0] = first.subarray(bytes);
    } else {
      result = Buffer.allocUnsafe(bytes);
      let filled = 0;
      while (filled < bytes) {
        const head = chunks[0]!;
        const n = Math.min(head.length, bytes - filled);
        head.copy(result, filled, 0, n);
        filled += n;
        if (n === head.length) chunks.shift();
        else chunks[0] = head.subarray(n);
      }
    }
    buffered -= bytes;
    return result;
  };

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
        if (chunk.length > 0) {
          chunks.push(chunk);
          buffered += chunk.length;
        }
        if (header === undefined) {
          if (buffered < HEADER_SIZE) return callback();
          header = Buffer.from(take(HEADER_SIZE));
          if (!header.subarray(0, 4).equals(MAGIC)) throw new BlobIntegrityError('not a Bulkhead blob');
          frameSize = header.readUInt32BE(4);
          if (frameSize < 1 || frameSize > MAX_FRAME_SIZE) throw new BlobIntegrityError('bad frame size');
          key = fileKey(dataKey, header.subarray(8));
        }
        const sealedFrame = frameSize + TAG_SIZE;
        // A frame is known not to be the last only when more bytes follow it.
        while (buffered > sealedFrame) this.push(open(take(sealedFrame), false));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        if (header === undefined) throw new BlobIntegrityError('blob is truncated');
        const last = buffered === 0 ? Buffer.alloc(0) : take(buffered);
        chunks = [];
        this.push(open(last, true));
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
