/**
 * ONNX graph writing from JavaScript (protobufjs over the ONNX IR subset we need).
 * Owns: turning simple trained models (the example job's logistic regression) into model.onnx bytes.
 * Does not own: running models (the serving worker uses onnxruntime-node) or reading arbitrary ONNX.
 */
export { buildLogisticRegressionOnnx, parseLogisticRegressionJson } from './logreg-graph.ts';
export type { LogisticRegressionModel } from './logreg-graph.ts';
export { ModelProto, onnxDataType } from './onnx-proto.ts';
