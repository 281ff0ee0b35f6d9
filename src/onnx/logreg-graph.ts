/**
 * Writes a logistic-regression model as an ONNX graph: `probability = Sigmoid(input · W + b)`.
 * Pure: weights in, bytes out. The graph has one float input `input` of shape [batch, features] and one
 * output `probability` of shape [batch, 1]; the batch dimension is symbolic, so any batch size runs.
 */
import { ModelProto, onnxDataType } from './onnx-proto.ts';

export interface LogisticRegressionModel {
  kind: 'logistic_regression';
  /** Feature names, in column order (documentation only; the graph takes a dense matrix). */
  features: readonly string[];
  weights: readonly number[];
  bias: number;
}

/** ONNX IR version 8 and opset 13: loadable by every onnxruntime since 1.10. */
const IR_VERSION = 8;
const OPSET = 13;

/** Validates a parsed model.json (as written by examples/train-logreg); throws a TypeError naming the problem. */
export const parseLogisticRegressionJson = (value: unknown): LogisticRegressionModel => {
  const v = value as Partial<Record<keyof LogisticRegressionModel, unknown>> | null;
  if (v === null || typeof v !== 'object') throw new TypeError('model.json must be an object');
  if (v.kind !== 'logistic_regression') throw new TypeError('model.json kind must be "logistic_regression"');
  if (!Array.isArray(v.weights) || v.weights.length === 0 || !v.weights.every((w) => typeof w === 'number' && Number.isFinite(w))) {
    throw new TypeError('model.json weights must be a non-empty list of finite numbers');
  }
  if (typeof v.bias !== 'number' || !Number.isFinite(v.bias)) throw new TypeError('model.json bias must be a finite number');
  const features = Array.isArray(v.features) ? v.features.map(String) : v.weights.map((_, i) => `f${i}`);
  if (features.length !== v.weights.length) throw new TypeError('model.json features and weights differ in length');
  return { kind: 'logistic_regression', features, weights: v.weights as number[], bias: v.bias };
};

const floatTensor = (name: string, dims: number[], values: readonly number[]) => ({
  name,
  dims,
  data_type: onnxDataType.FLOAT,
  raw_data: Buffer.from(new Float32Array(values).buffer),
});

const floatValueInfo = (name: string, dims: Array<number | string>) => ({
  name,
  type: {
    tensor_type: {
      elem_type: onnxDataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
    },
  },
});

/** The ONNX bytes of `model`. Deterministic: the same model gives the same bytes. */
export const buildLogisticRegressionOnnx = (model: LogisticRegressionModel): Uint8Array => {
  const n = model.weights.length;
  const message = ModelProto.fromObject({
    ir_version: IR_VERSION,
    producer_name: 'bulkhead',
    producer_version: '1',
    model_version: 1,
    doc_string: `logistic regression over ${n} features: ${model.features.join(', ')}`.slice(0, 2000),
    opset_import: [{ domain: '', version: OPSET }],
    graph: {
      name: 'logistic_regression',
      node: [
        { op_type: 'MatMul', input: ['input', 'W'], output: ['logit_raw'], name: 'matmul' },
        { op_type: 'Add', input: ['logit_raw', 'B'], output: ['logit'], name: 'add' },
        { op_type: 'Sigmoid', input: ['logit'], output: ['probability'], name: 'sigmoid' },
      ],
      initializer: [floatTensor('W', [n, 1], model.weights), floatTensor('B', [1], [model.bias])],
      input: [floatValueInfo('input', ['batch', n])],
      output: [floatValueInfo('probability', ['batch', 1])],
    },
  });
  return ModelProto.encode(message).finish();
};
