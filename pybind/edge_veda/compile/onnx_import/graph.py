"""ONNX graph editing shared by the graph rewrites (dequantize.py, a recipe's own surgery such as
recipes/kokoro_graph.py): an index of a graph with queued replacements (GraphEditor), node
attributes, the subgraph between given tensors (extract), tensor renaming (rename_tensors).

Only the `onnx` package is needed; onnxruntime is not.
"""
from __future__ import annotations

import numpy as np


class GraphEditor:
    """Index of an ONNX graph: producers, consumers, initializers; queued replacements."""

    def __init__(self, model):
        from onnx import numpy_helper

        self.model = model
        self.graph = model.graph
        self.nh = numpy_helper
        self.init = {t.name: t for t in self.graph.initializer}
        self.producer = {o: n for n in self.graph.node for o in n.output if o}
        self.consumers: dict[str, list] = {}
        for n in self.graph.node:
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(n)
        self.new_inits: dict[str, np.ndarray] = {}
        self.insert_before: dict[int, list] = {}  # id(node) -> nodes placed just before it
        self.dropped: set[int] = set()            # id(node) of nodes to drop
        self._counter = 0

    def array(self, name: str) -> np.ndarray:
        if name in self.new_inits:
            return self.new_inits[name]
        return self.nh.to_array(self.init[name])

    def is_const(self, name: str) -> bool:
        return name in self.init or name in self.new_inits

    def add_init(self, base: str, value: np.ndarray) -> str:
        name = base
        while name in self.init or name in self.new_inits or name in self.producer:
            self._counter += 1
            name = f"{base}_{self._counter}"
        self.new_inits[name] = np.ascontiguousarray(value)
        return name

    def only_consumer(self, name: str, op_type: str):
        users = self.consumers.get(name, [])
        if len(users) != 1 or users[0].op_type != op_type:
            raise ValueError(f"expected {name!r} to feed exactly one {op_type}, "
                             f"found {[u.op_type for u in users]}")
        return users[0]

    def replace(self, anchor, new_nodes, drop=()) -> None:
        """Puts new_nodes where `anchor` is (its inputs exist there) and drops `drop`."""
        self.insert_before.setdefault(id(anchor), []).extend(new_nodes)
        self.dropped.update(id(n) for n in drop)

    def commit(self, outputs_needed=None):
        """Applies the queued changes, drops dead nodes and unused initializers."""
        nodes = []
        for n in self.graph.node:
            nodes.extend(self.insert_before.get(id(n), []))
            if id(n) not in self.dropped:
                nodes.append(n)
        live = set(outputs_needed or [o.name for o in self.graph.output])
        kept = []
        for n in reversed(nodes):  # nodes are in topological order
            if any(o in live for o in n.output):
                kept.append(n)
                live.update(i for i in n.input if i)
                for a in n.attribute:  # subgraphs (If/Loop) read outer names
                    if a.type == a.GRAPH:
                        live.update(_graph_reads(a.g))
        kept.reverse()
        inits = [t for t in self.graph.initializer if t.name in live]
        inits += [self.nh.from_array(v, k) for k, v in self.new_inits.items() if k in live]
        del self.graph.node[:]
        self.graph.node.extend(kept)
        del self.graph.initializer[:]
        self.graph.initializer.extend(inits)
        del self.graph.value_info[:]  # stale shapes of removed tensors
        self.__init__(self.model)


def _graph_reads(g) -> set[str]:
    names = set()
    for n in g.node:
        names.update(i for i in n.input if i)
        for a in n.attribute:
            if a.type == a.GRAPH:
                names.update(_graph_reads(a.g))
    return names


def attribute(node, name, default=None):
    """The value of `node`'s attribute `name` (`default` if it has none)."""
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _value_info(name: str, elem_type: int, shape):
    from onnx import helper

    return helper.make_tensor_value_info(name, elem_type, shape)


def extract(model, inputs: dict, outputs: dict, name: str):
    """The subgraph of `model` computing `outputs` from `inputs` (both name -> (elem type,
    shape)), its nodes in the original order. Fails if it would need another graph input."""
    from onnx import helper

    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output if o}
    inits = {t.name: t for t in graph.initializer}
    need = list(outputs)
    seen = set()
    nodes = set()
    while need:
        t = need.pop()
        if t in seen or t in inputs or t in inits or not t:
            continue
        seen.add(t)
        node = producer.get(t)
        if node is None:
            raise ValueError(f"{name}: {t!r} is not computable from {sorted(inputs)}")
        if id(node) not in nodes:
            nodes.add(id(node))
            need.extend(node.input)
    kept = [n for n in graph.node if id(n) in nodes]
    used = {i for n in kept for i in n.input}
    g = helper.make_graph(
        kept, name,
        [_value_info(k, t, s) for k, (t, s) in inputs.items()],
        [_value_info(k, t, s) for k, (t, s) in outputs.items()],
        initializer=[t for t in graph.initializer if t.name in used])
    part = helper.make_model(g, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return part


def rename_tensors(model, names: dict[str, str]):
    """Renames tensors (graph inputs/outputs and node inputs/outputs) in place."""
    g = model.graph
    for n in g.node:
        for k, i in enumerate(n.input):
            if i in names:
                n.input[k] = names[i]
        for k, o in enumerate(n.output):
            if o in names:
                n.output[k] = names[o]
    for v in list(g.input) + list(g.output):
        if v.name in names:
            v.name = names[v.name]
    return model
