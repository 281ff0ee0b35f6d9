/**
 * Open Inference Protocol v2 (KServe / Triton / MLServer) request and response tensors, without IO.
 * Shared by the gateway (validation before a request reaches a worker) and the worker (conversion to
 * onnxruntime tensors). Must stay dependency-free: it is copied into every worker's read-only code dir.
 *
 * Request: { id?, parameters?, inputs: [{ name, shape, datatype, data, parameters? }], outputs?: [{ name }] }
 * Response: { model_name, model_version?, id?, parameters?, outputs: [{ name, shape, datatype, data }] }
 * Errors: { error: "..." }. `data` may be flat or nested (row-major); responses are always flat.
 */

export const oipDatatypes = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type OipDatatype = (typeof oipDatatypes)[number];

export interface OipTensor {
  name: string;
  shape: number[];
  datatype: OipDatatype;
  data: Array<number | boolean | string>;
  parameters?: Record<string, unknown>;
}

export interface OipInferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: OipTensor[];
  outputs?: Array<{ name: string; parameters?: Record<string, unknown> }>;
}

export interface OipInferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: OipTensor[];
}

/** A request the caller got wrong: answered 400 with `{ error }`. */
export class OipRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OipRequestError';
  }
}

/** Upper bound on the elements of one request (all inputs): keeps one caller from pinning a worker. */
export const MAX_ELEMENTS = 1_000_000;

const flatten = (data: unknown, out: unknown[], depth: number): void => {
  if (depth > 32) throw new OipRequestError('input data is nested too deeply');
  if (Array.isArray(data)) {
    for (const item of data) flatten(item, out, depth + 1);
  } else {
    out.push(data);
  }
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const checkElement = (datatype: OipDatatype, value: unknown, name: string): void => {
  switch (datatype) {
    case 'BOOL':
      if (typeof value !== 'boolean') throw new OipRequestError(`input '${name}': BOOL data must be true/false`);
      return;
    case 'BYTES':
      if (typeof value !== 'string') throw new OipRequestError(`input '${name}': BYTES data must be strings`);
      return;
    case 'FP16': case 'FP32': case 'FP64':
      if (typeof value !== 'number') throw new OipRequestError(`input '${name}': ${datatype} data must be numbers`);
      return;
    default:
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new OipRequestError(`input '${name}': ${datatype} data must be integers`);
      if (datatype.startsWith('UINT') && value < 0) throw new OipRequestError(`input '${name}': ${datatype} data must not be negative`);
  }
};

/**
 * Validates an infer request body and returns it with every input's data flattened. Throws
 * OipRequestError with a message fit for the caller.
 */
export const parseInferRequest = (body: unknown): OipInferRequest => {
  if (!isRecord(body)) throw new OipRequestError('the request body must be a JSON object');
  if (!Array.isArray(body['inputs']) || body['inputs'].length === 0) throw new OipRequestError("'inputs' must be a non-empty list");
  if (body['id'] !== undefined && typeof body['id'] !== 'string') throw new OipRequestError("'id' must be a string");
  if (body['parameters'] !== undefined && !isRecord(body['parameters'])) throw new OipRequestError("'parameters' must be an object");
  let total = 0;
  const names = new Set<string>();
  const inputs = body['inputs'].map((raw, index): OipTensor => {
    if (!isRecord(raw)) throw new OipRequestError(`inputs[${index}] must be an object`);
    const name = raw['name'];
    if (typeof name !== 'string' || name === '') throw new OipRequestError(`inputs[${index}].name must be a non-empty string`);
    if (names.has(name)) throw new OipRequestError(`input '${name}' appears twice`);
    names.add(name);
    const datatype = raw['datatype'];
    if (typeof datatype !== 'string' || !(oipDatatypes as readonly string[]).includes(datatype)) {
      throw new OipRequestError(`input '${name}': datatype must be one of ${oipDatatypes.join(', ')}`);
    }
    const shape = raw['shape'];
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
      throw new OipRequestError(`input '${name}': shape must be a list of non-negative integers`);
    }
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    total += size;
    if (total > MAX_ELEMENTS) throw new OipRequestError(`the request has more than ${MAX_ELEMENTS} elements`);
    const data: unknown[] = [];
    flatten(raw['data'], data, 0);
    if (data.length !== size) throw new OipRequestError(`input '${name}': shape ${JSON.stringify(shape)} needs ${size} elements, data has ${data.length}`);
    for (const value of data) checkElement(datatype as OipDatatype, value, name);
    const tensor: OipTensor = { name, shape: shape as number[], datatype: datatype as OipDatatype, data: data as OipTensor['data'] };
    if (isRecord(raw['parameters'])) tensor.parameters = raw['parameters'];
    return tensor;
  });
  const request: OipInferRequest = { inputs };
  if (typeof body['id'] === 'string') request.id = body['id'];
  if (isRecord(body['parameters'])) request.parameters = body['parameters'];
  if (body['outputs'] !== undefined) {
    if (!Array.isArray(body['outputs'])) throw new OipRequestError("'outputs' must be a list");
    request.outputs = body['outputs'].map((o, index) => {
      if (!isRecord(o) || typeof o['name'] !== 'string') throw new OipRequestError(`outputs[${index}].name must be a string`);
      return { name: o['name'] };
    });
  }
  return request;
};

/** onnxruntime tensor element type ↔ OIP datatype. FP16 is not converted (no Float16Array in Node 24 by default). */
export const ortTypeOf: Partial<Record<OipDatatype, string>> = {
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64',
  INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64', FP32: 'float32', FP64: 'float64', BYTES: 'string',
};

export const oipTypeOf = (ortType: string): OipDatatype | undefined =>
  (Object.entries(ortTypeOf) as Array<[OipDatatype, string]>).find(([, t]) => t === ortType)?.[0];

/** Typed array for an ORT tensor of `ortType` holding `data` (already validated against the datatype). */
export const toTypedData = (ortType: string, data: ReadonlyArray<number | boolean | string>): unknown => {
  switch (ortType) {
    case 'float32': return Float32Array.from(data as number[]);
    case 'float64': return Float64Array.from(data as number[]);
    case 'int8': return Int8Array.from(data as number[]);
    case 'uint8': return Uint8Array.from(data as number[]);
    case 'int16': return Int16Array.from(data as number[]);
    case 'uint16': return Uint16Array.from(data as number[]);
    case 'int32': return Int32Array.from(data as number[]);
    case 'uint32': return Uint32Array.from(data as number[]);
    case 'int64': return BigInt64Array.from(data as number[], (v) => BigInt(v));
    case 'uint64': return BigUint64Array.from(data as number[], (v) => BigInt(v));
    case 'bool': return Uint8Array.from(data as boolean[], (v) => (v ? 1 : 0));
    case 'string': return [...(data as string[])];
    default: throw new OipRequestError(`tensor type ${ortType} is not supported`);
  }
};

/** Plain JSON values of an ORT output tensor's data (bigints become numbers, bools booleans). */
export const fromTypedData = (ortType: string, data: ArrayLike<unknown>): Array<number | boolean | string> => {
  const out: Array<number | boolean | string> = new Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    out[i] = ortType === 'bool' ? v === 1 || v === true : typeof v === 'bigint' ? Number(v) : (v as number | string);
  }
  return out;
};
