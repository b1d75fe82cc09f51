"""Mixed-precision candidates assembled from two models instead of re-running the quantizer.

``quantize_static`` with ``nodes_to_exclude`` spends over a second per call on EfficientNet-Lite0
(most of it re-quantizing every weight), and the search builds ten or so candidates. Every
candidate is made of pieces of two models the search already has: the float model, for the nodes
left in float, and the all-INT8 Q/DQ model (``quantize_static``'s raw output), for the rest. What
the quantizer would decide at each boundary is read off the all-INT8 model:

- a node runs in INT8 when it reads dequantized activations there and has quantized weights or a
  quantized output (Conv, Add, pooling, ...); a float node missing there was folded into the INT8
  node before it (Conv + ReLU6);
- an activation keeps its Quantize/Dequantize pair when an INT8 node still writes it or reads it;
  float nodes then read it dequantized, as they do in the quantizer's own output, else in float.

:meth:`CandidateAssembler.assemble` returns ``None`` where the pieces do not fit (a folded
activation left without its Conv); the search then falls back to the quantizer, and it checks the
first assembled candidate against the quantizer's before trusting the rest.
"""

from __future__ import annotations

from typing import Any

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


class CandidateAssembler:
    """Candidates from ``float_model`` and ``int8_model`` (``quantize_static``'s output with nothing excluded)."""

    def __init__(self, float_model: Any, int8_model: Any) -> None:
        self.float_model, self.int8_model = float_model, int8_model
        int8 = int8_model.graph
        constants = {init.name for init in int8.initializer}
        self.int8_nodes = {node.name: node for node in int8.node if node.name and node.op_type not in QDQ_OPS}
        readers: dict[str, list[Any]] = {}
        for node in int8.node:
            for name in node.input:
                readers.setdefault(name, []).append(node)
        #: Activation -> its QuantizeLinear and the DequantizeLinear nodes reading it.
        self.activation_qdq: dict[str, tuple[Any, list[Any]]] = {}
        for node in int8.node:
            if node.op_type == "QuantizeLinear" and node.input[0] not in constants:
                dequantize = [r for r in readers.get(node.output[0], []) if r.op_type == "DequantizeLinear"]
                self.activation_qdq[node.input[0]] = (node, dequantize)
        dequantized = {dq.output[0]: tensor for tensor, (_, dqs) in self.activation_qdq.items() for dq in dqs}
        #: Dequantized name -> activation, and the constants' DequantizeLinear nodes by output.
        self.dequantized = dequantized
        self.constant_dq = {node.output[0]: node for node in int8.node
                            if node.op_type == "DequantizeLinear" and node.input[0] in constants}
        #: INT8 node -> activations it reads dequantized. A node runs in INT8 when it reads dequantized
        #: activations and either has quantized weights or writes a quantized output; one that only reads a
        #: dequantized tensor (ReduceMean after an INT8 Conv) is a float node that happens to follow one.
        self.reads: dict[str, list[str]] = {}
        for name, node in self.int8_nodes.items():
            activations = [dequantized[i] for i in node.input if i in dequantized]
            weights = any(i in self.constant_dq for i in node.input)
            if activations and (weights or any(o in self.activation_qdq for o in node.output)):
                self.reads[name] = activations
        self.writer = {out: node for node in self.int8_nodes.values() for out in node.output}

    def assemble(self, excluded: set[str]) -> Any | None:
        """The raw Q/DQ model with the nodes named in ``excluded`` left in float (``None``: cannot be assembled)."""
        import onnx

        graph = self.float_model.graph
        if any(not node.name for node in graph.node):
            return None
        float_producer = {out: node for node in graph.node for out in node.output}
        for node in graph.node:
            folded = node.name not in self.int8_nodes and node.op_type not in QDQ_OPS
            if folded and node.name not in excluded:
                source = float_producer.get(node.input[0]) if node.input else None
                if source is None or source.name in excluded:
                    return None  # an activation the quantizer folds, without the node it folds into

        def int8_runs(name: str) -> bool:
            return name not in excluded and bool(self.reads.get(name))

        def keeps(tensor: str) -> bool:
            if tensor not in self.activation_qdq:
                return False
            writer = self.writer.get(tensor)
            if writer is not None and int8_runs(writer.name):
                return True
            return any(int8_runs(reader) for reader, inputs in self.reads.items() if tensor in inputs)

        emitted: list[Any] = []
        used_constant_dq: dict[str, Any] = {}

        def emit_qdq(tensor: str) -> None:
            if keeps(tensor):
                quantize, dequantize = self.activation_qdq[tensor]
                emitted.extend([quantize, *dequantize])

        for value in graph.input:
            emit_qdq(value.name)
        for node in graph.node:
            if node.name not in self.int8_nodes and node.name not in excluded:
                continue  # folded into the INT8 node before it
            if node.name in excluded or node.name not in self.reads:
                float_node = onnx.NodeProto()
                float_node.CopyFrom(node)
                for index, name in enumerate(node.input):
                    if keeps(name):
                        float_node.input[index] = self._dequantized_name(name)
                emitted.append(float_node)
                outputs = list(node.output)
            else:
                quantized = self.int8_nodes[node.name]
                for name in quantized.input:
                    if name in self.dequantized and not keeps(self.dequantized[name]):
                        return None
                    if name in self.constant_dq:
                        used_constant_dq[name] = self.constant_dq[name]
                emitted.append(quantized)
                outputs = list(quantized.output)
            for name in outputs:
                emit_qdq(name)
        # Constant DequantizeLinear nodes first: they read initializers only.
        model = self._model([*used_constant_dq.values(), *emitted])
        available = {init.name for init in model.graph.initializer} | {value.name for value in model.graph.input}
        for node in model.graph.node:
            if any(name and name not in available for name in node.input):
                return None  # a float node reading a tensor the INT8 side renamed (folded into its writer)
            available.update(node.output)
        if any(value.name not in available for value in model.graph.output):
            return None
        return model

    def _dequantized_name(self, tensor: str) -> str:
        return str(self.activation_qdq[tensor][1][0].output[0])

    def _model(self, nodes: list[Any]) -> Any:
        from onnx import helper

        int8, float_graph = self.int8_model, self.float_model.graph
        produced = {name for node in nodes for name in node.output}
        needed = {name for node in nodes for name in node.input} - produced
        initializers = {init.name: init for init in float_graph.initializer if init.name in needed}
        initializers.update({init.name: init for init in int8.graph.initializer if init.name in needed})
        graph = helper.make_graph(nodes, float_graph.name, list(float_graph.input), list(float_graph.output),
                                  initializer=list(initializers.values()))
        model = helper.make_model(graph, opset_imports=list(int8.opset_import), producer_name=int8.producer_name)
        model.ir_version = int8.ir_version
        return model
