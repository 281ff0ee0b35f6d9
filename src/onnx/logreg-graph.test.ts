import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { buildLogisticRegressionOnnx, parseLogisticRegressionJson, ModelProto } from './index.ts';

const require = createRequire(import.meta.url);

test('the logistic-regression graph round-trips through protobuf with snake_case fields intact', () => {
  const bytes = buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: ['a', 'b'], weights: [1, -2], bias: 0.5 });
  const decoded = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number }) as { ir_version: number; opset_import: Array<{ version: number }>; graph: { node: Array<{ op_type: string }>; input: Array<{ name: string }> } };
  assert.equal(decoded.ir_version, 8);
  assert.equal(decoded.opset_import[0]?.version, 13);
  assert.deepEqual(decoded.graph.node.map((n) => n.op_type), ['MatMul', 'Add', 'Sigmoid']);
  assert.equal(decoded.graph.input[0]?.name, 'input');
});

test('onnxruntime computes sigmoid(x·w + b) from the written graph, for any batch size', async () => {
  process.env['ORT_DISABLE_TELEMETRY'] = '1';
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const weights = [0.5, -1.25, 2];
  const bias = -0.3;
  const session = await ort.InferenceSession.create(buildLogisticRegressionOnnx({ kind: 'logistic_regression', features: ['x', 'y', 'z'], weights, bias }));
  const rows = [[1, 2, 3], [0, 0, 0], [-1, 0.5, 0.25]];
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [3, 3]) });
  const probability = out['probability'];
  assert.ok(probability !== undefined);
  assert.deepEqual(probability.dims, [3, 1]);
  rows.forEach((row, i) => {
    const expected = 1 / (1 + Math.exp(-(row.reduce((s, x, j) => s + x * weights[j]!, 0) + bias)));
    assert.ok(Math.abs((probability.data as Float32Array)[i]! - expected) < 1e-5, `row ${i}`);
  });
  await session.release();
});

test('model.json validation names the problem', () => {
  assert.throws(() => parseLogisticRegressionJson({ kind: 'tree' }), /kind/);
  assert.throws(() => parseLogisticRegressionJson({ kind: 'logistic_regression', weights: [], bias: 0 }), /weights/);
  assert.throws(() => parseLogisticRegressionJson({ kind: 'logistic_regression', weights: [1], bias: 0, features: ['a', 'b'] }), /length/);
  assert.deepEqual(parseLogisticRegressionJson({ kind: 'logistic_regression', weights: [1, 2], bias: 0 }).features, ['f0', 'f1']);
});
