/**
 * The model worker: runs inside a tenant's sandbox (no network, read-only model and code), loads one
 * ONNX model with onnxruntime-node and answers Open Inference Protocol v2 JSON over HTTP/1.1 on a Unix
 * socket in its private, bind-mounted directory. The gateway is its only client.
 *
 * argv: <model.onnx | -> <socket path> <deployment name> <model version>
 * `-`: the model's bytes arrive on stdin (closed after them); a local deployment's worker gets its
 * decrypted model that way, so the plaintext is never a file. A path: read from that file (a cluster pod's
 * own emptyDir, `bulkhead serve-model`).
 * It prints one `ready` line once it listens, answers SIGTERM by closing the listener and finishing
 * in-flight requests (drain), and exits non-zero when the model cannot be loaded.
 *
 * TCP mode (a cluster endpoint's pod, `bulkhead serve-model`): the second argument `tcp:<host>:<port>`
 * listens there instead of on a socket (port 0: any free port); the `ready` line then ends with
 * `, listening on <host>:<port>`. The pod's network policy, not the worker, decides who may connect.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import type * as Ort from 'onnxruntime-node';
import { fromTypedData, oipTypeOf, OipRequestError, ortTypeOf, parseInferRequest, toTypedData } from './oip-codec.ts';
import type { OipInferResponse, OipTensor } from './oip-codec.ts';

const [modelPath, socketPath, modelName, modelVersion] = process.argv.slice(2);
if (modelPath === undefined || socketPath === undefined || modelName === undefined || modelVersion === undefined) {
  process.stderr.write('usage: oip-worker <model.onnx> <socket> <name> <version>\n');
  process.exit(2);
}
const MAX_BODY = 16 * 1024 * 1024;

// Resolved from the worker's own directory (the read-only code dir holds a copy of onnxruntime-node).
const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof Ort;

const readStdin = async (): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  for (const chunk of chunks) chunk.fill(0);
  return bytes;
};

const sessionOptions: Ort.InferenceSession.SessionOptions = {
  // One thread each: the cgroup's CPU quota is the replica's budget, and extra threads only contend.
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
};
let session: Ort.InferenceSession;
if (modelPath === '-') {
  const bytes = await readStdin();
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions);
  } finally {
    // onnxruntime keeps its own copy: this one is not needed past session creation.
    bytes.fill(0);
  }
} else {
  session = await ort.InferenceSession.create(modelPath, sessionOptions);
}

const describe = (names: readonly string[], metadata: readonly Ort.InferenceSession.ValueMetadata[]) =>
  names.map((name, i) => {
    const m = metadata[i];
    if (m === undefined || !m.isTensor) return { name, datatype: 'BYTES', shape: [-1] };
    return { name, datatype: oipTypeOf(m.type) ?? 'BYTES', shape: m.shape.map((d) => (typeof d === 'number' ? d : -1)) };
  });
const inputMeta = describe(session.inputNames, session.inputMetadata);
const outputMeta = describe(session.outputNames, session.outputMetadata);
const metadata = { name: modelName, versions: [modelVersion], platform: 'onnxruntime_onnx', inputs: inputMeta, outputs: outputMeta };

const send = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new OipRequestError('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const infer = async (text: string): Promise<OipInferResponse> => {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new OipRequestError('the request body is not valid JSON');
  }
  const request = parseInferRequest(body);
  const feeds: Record<string, Ort.Tensor> = {};
  for (const input of request.inputs) {
    const index = session.inputNames.indexOf(input.name);
    if (index === -1) throw new OipRequestError(`unknown input '${input.name}'; the model takes ${session.inputNames.join(', ')}`);
    const expected = inputMeta[index]!.datatype;
    if (input.datatype !== expected) throw new OipRequestError(`input '${input.name}' must be ${expected}, got ${input.datatype}`);
    const ortType = ortTypeOf[input.datatype];
    if (ortType === undefined) throw new OipRequestError(`datatype ${input.datatype} is not supported`);
    feeds[input.name] = new ort.Tensor(ortType as 'float32', toTypedData(ortType, input.data) as Float32Array, input.shape);
  }
  for (const name of session.inputNames) if (feeds[name] === undefined) throw new OipRequestError(`missing input '${name}'`);
  const wanted = request.outputs?.map((o) => o.name) ?? session.outputNames;
  for (const name of wanted) if (!session.outputNames.includes(name)) throw new OipRequestError(`unknown output '${name}'`);
  let results: Ort.InferenceSession.ReturnType;
  try {
    results = await session.run(feeds, wanted as string[]);
  } catch (error) {
    // Shape mismatches and the like surface here; onnxruntime's message names the input, not host paths.
    throw new OipRequestError(`inference failed: ${String((error as Error).message).split('\n')[0]?.slice(0, 300)}`);
  }
  const outputs: OipTensor[] = wanted.map((name) => {
    const tensor = results[name]!;
    return { name, datatype: oipTypeOf(tensor.type) ?? 'BYTES', shape: [...tensor.dims], data: fromTypedData(tensor.type, tensor.data as ArrayLike<unknown>) };
  });
  const response: OipInferResponse = { model_name: modelName, model_version: modelVersion, outputs };
  if (request.id !== undefined) response.id = request.id;
  return response;
};

const server = createServer({ keepAlive: true }, (req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && (url === '/v2/health/live' || url === '/v2/health/ready')) return send(res, 200, {});
  if (req.method === 'GET' && url === '/v2/models/model') return send(res, 200, metadata);
  if (req.method === 'POST' && url === '/v2/models/model/infer') {
    readBody(req)
      .then(infer)
      .then((response) => send(res, 200, response))
      .catch((error: unknown) => {
        if (error instanceof OipRequestError) return send(res, 400, { error: error.message });
        process.stderr.write(`inference error: ${String((error as Error)?.message ?? error)}\n`);
        return send(res, 500, { error: 'inference failed inside the model worker' });
      });
    return;
  }
  return send(res, 404, { error: 'no such worker route' });
});

const tcp = /^tcp:(.+):(\d{1,5})$/.exec(socketPath);
if (tcp === null) {
  rmSync(socketPath, { force: true });
  server.listen(socketPath, () => process.stdout.write(`ready: ${modelName} version ${modelVersion}, inputs ${session.inputNames.join(',')}\n`));
} else {
  server.listen(Number(tcp[2]), tcp[1], () => {
    const address = server.address() as { address: string; port: number };
    process.stdout.write(`ready: ${modelName} version ${modelVersion}, inputs ${session.inputNames.join(',')}, listening on ${address.address}:${address.port}\n`);
  });
}
process.on('SIGTERM', () => {
  // Drain: stop accepting, let in-flight requests finish, then exit.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 10_000).unref();
});
