/** Worker thread: unpacks one image (image-unpack.ts) and reports the rootfs path or the error, as plain data. */
import { parentPort, workerData } from 'node:worker_threads';
import { isAppError } from '../core/errors.ts';
import { unpackImage } from './image-unpack.ts';
import type { UnpackReply, UnpackRequest } from './image-unpack-pool.ts';

const port = parentPort;
const request = workerData as UnpackRequest;
if (port !== null) {
  unpackImage(request.work, request.configPath, request.layers, request.limitBytes).then(
    (rootfs) => port.postMessage({ ok: true, rootfs } satisfies UnpackReply),
    (error: unknown) => {
      const reply: UnpackReply = isAppError(error)
        ? { ok: false, code: error.code, message: error.message, details: error.details }
        : { ok: false, message: error instanceof Error ? error.message : String(error) };
      port.postMessage(reply);
    },
  );
}
