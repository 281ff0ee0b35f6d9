/**
 * Runs an image unpack on its own worker thread (one per unpack; unpacks are rare and long), so the
 * synchronous, entry-by-entry writes of layer-unpack.ts never stall the API's event loop. An AppError in
 * the worker (IMAGE_REFUSED with its `details.check`) comes back as the same AppError here.
 */
import { Worker } from 'node:worker_threads';
import { AppError, isErrorCode } from '../core/errors.ts';

export interface UnpackRequest {
  work: string;
  configPath: string;
  layers: { path: string; mediaType: string }[];
  /** Most bytes of file content the unpack may write. */
  limitBytes: number;
}

export type UnpackReply =
  | { ok: true; rootfs: string }
  | { ok: false; code?: string; message: string; details?: Record<string, unknown> | undefined };

const workerUrl = new URL('./image-unpack-worker.ts', import.meta.url);

export function unpackInWorker(request: UnpackRequest): Promise<string> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl, { workerData: request });
    let settled = false;
    worker.once('message', (reply: UnpackReply) => {
      settled = true;
      if (reply.ok) resolve(reply.rootfs);
      else if (reply.code !== undefined && isErrorCode(reply.code)) {
        reject(new AppError(reply.code, reply.message, reply.details === undefined ? {} : { details: reply.details }));
      } else reject(new Error(reply.message));
    });
    worker.once('error', (error) => {
      if (!settled) reject(error);
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the image unpack worker exited with code ${code}`));
      settled = true;
    });
  });
}
