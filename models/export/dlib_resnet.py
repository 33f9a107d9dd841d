"""Convert dlib's ResNet face embedder (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

Build step only, run by the build venv's Python (it needs ``numpy`` and ``onnx``; no dlib, no
torch code)::

    python -m models.export.dlib_resnet --weights SRC.dat --out DST.onnx --model-id ID

The ``.dat`` is dlib's own serialization of the network type ``anet_type`` of dlib's
``dnn_face_recognition_ex.cpp`` (a ResNet-34-like net: 150 x 150 RGB in, 128-d out, ``affine``
layers in place of batch norm). Read from dlib's source (``dlib/serialize.h``,
``dlib/dnn/core.h``, ``layers.h``, ``input.h``, ``loss.h``, ``cuda/tensor.h``):

* integers: a control byte (low 4 bits: how many little-endian bytes follow; 0x80: negative);
  floats: a mantissa then an exponent, each such an integer (value = mantissa * 2**exponent);
  strings: a length then the bytes; bools: ASCII ``'1'``/``'0'``; tensors: version 2, four
  dims, then little-endian float32 data; alias tensors: version 1 and four dims.
* a network is nested: each layer wrapper writes its version, then its sub-network, then its
  own state. So the file holds the loss layer, then the version of every wrapper from the
  outside in, the input layer, and the state of each computational layer from the inside out
  (layer details, three bools, and the training-time tensors, empty here).

Which tag a ``skip``/``add_prev`` refers to is part of the C++ type, not the file, so the
network's shape is spelled out in :func:`network_spec` and every version number and layer name
in the file is checked against it: a file of another architecture is refused, never guessed at.

The graph computes exactly dlib's forward pass: input ``(x - mean_rgb) / 256``; ``con`` +
``affine`` folded into one Conv (``W * gamma``, ``b * gamma + beta``); strided 3 x 3 convs and
the 2 x 2 average pools without padding, as dlib's defaults; ``add_prev`` of two tensors of
different size zero-pads the smaller one at the end of each axis (dlib's ``tt::add``: the
16-channel-wide residual of ``ares_down`` and the 3 vs 4 pixel maps of the 256-wide level);
global average pool; ``fc_no_bias`` as a MatMul. Output: the raw 128-d descriptor dlib's
``compute_face_descriptor`` returns (not normalised).

The ONNX input is ``[N, 3, 150, 150]`` float32 RGB in 0..255 (a ``dlib.get_face_chip`` chip,
transposed): the batch dimension is free, so several faces go through one run. The output is
**byte-deterministic** (fixed names, opset, IR version and producer, no timestamps): the
manifest pins its sha256 (``export.sha256``) beside the source's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONVERTER_VERSION = "1"
OPSET = 13
IR_VERSION = 7
PRODUCER = "innsight-dlib-resnet"
INPUT_SIZE = 150
EMBEDDING_DIM = 128


class DatFormatError(ValueError):
    """The file is not the dlib network this converter knows."""


# ------------------------------------------------------------------------------ reading


class DatReader:
    """dlib's serialization primitives over a byte buffer (see the module docstring)."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self._data):
            raise DatFormatError(f"truncated file at byte {self.pos}")
        chunk = self._data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def read_int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise DatFormatError(f"bad integer control byte 0x{control:02x} at {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        mantissa = self.read_int()
        exponent = self.read_int()
        if exponent >= 32000:  # float_details: is_inf, is_ninf, is_nan
            return {32000: math.inf, 32001: -math.inf}.get(exponent, math.nan)
        return math.ldexp(float(mantissa), exponent)

    def read_string(self) -> str:
        return bytes(self._take(self.read_int())).decode("ascii")

    def read_bool(self) -> bool:
        ch = bytes(self._take(1))
        if ch not in (b"0", b"1"):
            raise DatFormatError(f"bad bool {ch!r} at {self.pos - 1}")
        return ch == b"1"

    def read_tensor(self) -> Any:
        import numpy as np

        if (version := self.read_int()) != 2:
            raise DatFormatError(f"tensor version {version}, expected 2")
        dims = tuple(self.read_int() for _ in range(4))
        count = math.prod(dims)
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def read_alias(self) -> tuple[int, int, int, int]:
        if (version := self.read_int()) != 1:
            raise DatFormatError(f"alias_tensor version {version}, expected 1")
        n, k, r, c = (self.read_int() for _ in range(4))
        return n, k, r, c

    def expect_string(self, *allowed: str) -> str:
        at = self.pos
        text = self.read_string()
        if text not in allowed:
            raise DatFormatError(f"found {text!r} at byte {at}, expected one of {allowed}")
        return text


# ------------------------------------------------------------------------------ the network


@dataclass(frozen=True, slots=True)
class Node:
    """One wrapper of dlib's nested network type, outermost first in :func:`network_spec`."""

    kind: str
    """con | affine | relu | max_pool | avg_pool | add_prev | fc | tag | skip"""
    tag: int = 0
    """tag/skip/add_prev: the tag id (tag1, skip1, add_prev2, ...)."""


def _ares(down: bool) -> list[Node]:
    """``relu<residual<block,N,affine>>`` or ``relu<residual_down<...>>``, outermost first.

    block<N,BN,stride,S> = BN<con<N,3,3,1,1, relu<BN<con<N,3,3,stride,stride, S>>>>>;
    residual = add_prev1<block<tag1<S>>>;
    residual_down = add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<tag1<S>>>>>>."""
    block = [Node("affine"), Node("con"), Node("relu"), Node("affine"), Node("con")]
    if down:
        return [
            Node("relu"),
            Node("add_prev", 2),
            Node("avg_pool"),
            Node("skip", 1),
            Node("tag", 2),
            *block,
            Node("tag", 1),
        ]
    return [Node("relu"), Node("add_prev", 1), *block, Node("tag", 1)]


def network_spec() -> list[Node]:
    """dlib's ``anet_type`` (dnn_face_recognition_ex.cpp), outermost wrapper first, without
    the loss layer: fc_no_bias<128, avg_pool_everything<alevel0<...alevel4<max_pool<3,3,2,2,
    relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>>>>>>."""
    levels: list[list[Node]] = [
        _ares(True),  # alevel0: ares_down<256>
        _ares(False) + _ares(False) + _ares(True),  # alevel1: 256
        _ares(False) + _ares(False) + _ares(True),  # alevel2: 128
        _ares(False) * 3 + _ares(True),  # alevel3: 64
        _ares(False) * 3,  # alevel4: 32
    ]
    spec = [Node("fc"), Node("avg_pool")]
    for level in levels:
        spec += level
    return [*spec, Node("max_pool"), Node("relu"), Node("affine"), Node("con")]


@dataclass
class Layer:
    """A computational layer's details as read from the file."""

    kind: str
    tag: int = 0
    arrays: dict[str, Any] = field(default_factory=dict)
    ints: dict[str, int] = field(default_factory=dict)


@dataclass
class DlibNet:
    mean_rgb: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[Layer]
    """In execution order (input first), tags and skips included."""


def _read_details(r: DatReader, node: Node) -> Layer:
    import numpy as np

    layer = Layer(node.kind, node.tag)
    if node.kind == "con":
        version = r.expect_string("con_4", "con_5", "con_6")
        params = r.read_tensor().reshape(-1)
        for key in ("num_filters", "nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x"):
            layer.ints[key] = r.read_int()
        filters, biases = r.read_alias(), r.read_alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.read_float()
        use_bias = r.read_bool() if version in ("con_5", "con_6") else True
        if version == "con_6" and r.read_bool():
            raise DatFormatError("a con layer with a fused relu is not mapped")
        n_filters = math.prod(filters)
        layer.arrays["w"] = params[:n_filters].reshape(filters)
        bias = params[n_filters : n_filters + math.prod(biases)] if use_bias else None
        layer.arrays["b"] = bias if bias is not None else np.zeros(filters[0], np.float32)
    elif node.kind == "affine":
        version = r.expect_string("affine_", "affine_2")
        params = r.read_tensor().reshape(-1)
        gamma, beta = r.read_alias(), r.read_alias()
        if (mode := r.read_int()) != 0:
            raise DatFormatError(f"affine layer in mode {mode}, expected CONV_MODE (0)")
        if version == "affine_2" and r.read_bool():
            raise DatFormatError("a disabled affine layer is not mapped")
        size = math.prod(gamma)
        layer.arrays["gamma"] = params[:size]
        layer.arrays["beta"] = params[size : size + math.prod(beta)]
    elif node.kind == "relu":
        if r.expect_string("relu_", "relu_2") == "relu_2" and r.read_bool():
            raise DatFormatError("a disabled relu layer is not mapped")
    elif node.kind in ("max_pool", "avg_pool"):
        r.expect_string(f"{node.kind}_2")
        for key in ("nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x"):
            layer.ints[key] = r.read_int()
    elif node.kind == "add_prev":
        r.expect_string("add_prev_")
    elif node.kind == "fc":
        version = r.expect_string("fc_2", "fc_3")
        layer.ints["outputs"], layer.ints["inputs"] = r.read_int(), r.read_int()
        params = r.read_tensor().reshape(-1)
        weights, _biases = r.read_alias(), r.read_alias()
        if (bias_mode := r.read_int()) != 1:  # FC_NO_BIAS
            raise DatFormatError(f"fc layer with bias mode {bias_mode}, expected fc_no_bias")
        for _ in range(4):
            r.read_float()
        if version == "fc_3":
            r.read_bool()
        layer.arrays["w"] = params[: math.prod(weights)].reshape(weights[0], weights[1])
    else:  # pragma: no cover - network_spec names only the kinds above
        raise DatFormatError(f"no reader for {node.kind}")
    return layer


def _read_layer_state(r: DatReader, version: int, *, input_layer: bool) -> None:
    """What add_layer writes after its details: three bools and its training-time tensors."""
    for _ in range(3):
        r.read_bool()
    r.read_tensor()  # x_grad
    r.read_tensor()  # cached_output
    if input_layer:
        r.read_tensor()  # grad_final
        if version >= 3:
            r.read_int()  # _sample_expansion_factor
    elif version == 2:
        r.read_tensor()  # params_grad


def read_dat(data: bytes) -> DlibNet:
    """Parse dlib's face recognition ResNet (see the module docstring)."""
    r = DatReader(data)
    if (version := r.read_int()) != 1:
        raise DatFormatError(f"loss layer version {version}, expected 1")
    r.expect_string("loss_metric_", "loss_metric_2")
    r.read_float()  # margin
    r.read_float()  # distance threshold
    spec = network_spec()
    versions = []
    for node in spec:
        version = r.read_int()
        wrapper = node.kind in ("tag", "skip")
        if (wrapper and version != 1) or (not wrapper and version not in (1, 2, 3)):
            raise DatFormatError(f"{node.kind}: version {version} does not fit this network")
        versions.append(version)
    r.expect_string("input_rgb_image_sized")
    mean = (r.read_float(), r.read_float(), r.read_float())
    size = (r.read_int(), r.read_int())
    if size != (INPUT_SIZE, INPUT_SIZE):
        raise DatFormatError(f"input size {size}, expected {INPUT_SIZE} x {INPUT_SIZE}")
    layers: list[Layer] = []
    innermost = len(spec) - 1
    for index in range(innermost, -1, -1):
        node = spec[index]
        if node.kind in ("tag", "skip"):
            layers.append(Layer(node.kind, node.tag))
            continue
        layers.append(_read_details(r, node))
        _read_layer_state(r, versions[index], input_layer=index == innermost)
    if r.pos != len(data):
        raise DatFormatError(f"{len(data) - r.pos} bytes left after the network")
    return DlibNet(mean, size, layers)


# ------------------------------------------------------------------------------ the graph


@dataclass
class _Builder:
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    counter: int = 0

    def const(self, array: Any, stem: str) -> str:
        from onnx import numpy_helper

        self.counter += 1
        name = f"{stem}_{self.counter}"
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        from onnx import helper

        self.counter += 1
        name = f"{stem}_{self.counter}"
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name


Shape = tuple[int, int, int]
"""(channels, rows, columns) of one sample."""


def _pool_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - kernel) // stride


def _pad_to(g: _Builder, name: str, shape: Shape, target: Shape) -> str:
    """Zero-pad ``name`` at the end of each axis up to ``target`` (dlib's tt::add)."""
    if shape == target:
        return name
    import numpy as np

    ends = [0] + [t - s for s, t in zip(shape, target, strict=True)]
    pads = np.array([0, 0, 0, 0, *ends], dtype=np.int64)
    return g.node("Pad", [name, g.const(pads, "pads")], "pad", mode="constant")


def build_onnx(net: DlibNet, metadata: dict[str, str]) -> Any:
    """The ONNX ModelProto of ``net`` (see the module docstring)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    g = _Builder()
    mean = np.array(net.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", ["input", g.const(mean, "mean")], "sub")
    x = g.node("Mul", [x, g.const(np.array(1 / 256, dtype=np.float32), "scale")], "scale")
    shape: Shape = (3, *net.input_size)
    tags: dict[int, tuple[str, Shape]] = {}
    layers = net.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer.kind == "con":
            w, b = layer.arrays["w"].astype(np.float64), layer.arrays["b"].astype(np.float64)
            if i + 1 < len(layers) and layers[i + 1].kind == "affine":
                gamma = layers[i + 1].arrays["gamma"].astype(np.float64)
                beta = layers[i + 1].arrays["beta"].astype(np.float64)
                w = w * gamma.reshape(-1, 1, 1, 1)
                b = b * gamma + beta
                i += 1
            k, s = layer.ints, (layer.ints["stride_y"], layer.ints["stride_x"])
            x = g.node(
                "Conv",
                [x, g.const(w.astype(np.float32), "w"), g.const(b.astype(np.float32), "b")],
                "conv",
                kernel_shape=[k["nr"], k["nc"]],
                strides=list(s),
                pads=[k["pad_y"], k["pad_x"], k["pad_y"], k["pad_x"]],
            )
            shape = (
                k["num_filters"],
                _pool_out(shape[1], k["nr"], s[0], k["pad_y"]),
                _pool_out(shape[2], k["nc"], s[1], k["pad_x"]),
            )
        elif layer.kind == "affine":  # not after a conv: a plain per-channel scale and shift
            gamma = layer.arrays["gamma"].reshape(1, -1, 1, 1)
            beta = layer.arrays["beta"].reshape(1, -1, 1, 1)
            x = g.node("Mul", [x, g.const(gamma, "gamma")], "affine_mul")
            x = g.node("Add", [x, g.const(beta, "beta")], "affine_add")
        elif layer.kind == "relu":
            x = g.node("Relu", [x], "relu")
        elif layer.kind in ("max_pool", "avg_pool"):
            k = layer.ints
            if k["nr"] == 0 and k["nc"] == 0:
                x = g.node("GlobalAveragePool", [x], "gap")
                shape = (shape[0], 1, 1)
            else:
                op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
                x = g.node(
                    op,
                    [x],
                    layer.kind,
                    kernel_shape=[k["nr"], k["nc"]],
                    strides=[k["stride_y"], k["stride_x"]],
                    pads=[k["pad_y"], k["pad_x"], k["pad_y"], k["pad_x"]],
                )
                shape = (
                    shape[0],
                    _pool_out(shape[1], k["nr"], k["stride_y"], k["pad_y"]),
                    _pool_out(shape[2], k["nc"], k["stride_x"], k["pad_x"]),
                )
        elif layer.kind == "tag":
            tags[layer.tag] = (x, shape)
        elif layer.kind == "skip":
            x, shape = tags[layer.tag]
        elif layer.kind == "add_prev":
            other, other_shape = tags[layer.tag]
            target: Shape = (
                max(shape[0], other_shape[0]),
                max(shape[1], other_shape[1]),
                max(shape[2], other_shape[2]),
            )
            a = _pad_to(g, x, shape, target)
            b_ = _pad_to(g, other, other_shape, target)
            x, shape = g.node("Add", [a, b_], "add"), target
        elif layer.kind == "fc":
            flat = g.node("Flatten", [x], "flatten", axis=1)
            w = layer.arrays["w"].astype(np.float32)
            if w.shape[0] != math.prod(shape):
                raise DatFormatError(f"fc takes {w.shape[0]} inputs, the net gives {shape}")
            x = g.node("MatMul", [flat, g.const(w, "fc")], "fc")
        else:  # pragma: no cover
            raise DatFormatError(f"no mapping for {layer.kind}")
        i += 1
    g.nodes.append(helper.make_node("Identity", [x], ["descriptor"], name="descriptor"))
    height, width = net.input_size
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, height, width])]
    outputs = [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", EMBEDDING_DIM])]
    graph = helper.make_graph(g.nodes, "dlib_resnet", inputs, outputs, g.initializers)
    model = helper.make_model(
        graph,
        producer_name=PRODUCER,
        producer_version=CONVERTER_VERSION,
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    for key in sorted(metadata):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, metadata[key]
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, type=Path, help="the dlib .dat file")
    parser.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    parser.add_argument("--model-id", required=True)
    args = parser.parse_args(argv)
    data = args.weights.read_bytes()
    net = read_dat(data)
    metadata = {
        "model_id": args.model_id,
        "source_file": args.weights.name,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "converter": f"{PRODUCER} {CONVERTER_VERSION}",
        "input_layout": "NCHW",
        "input_size": json.dumps(list(net.input_size)),
        "input_colour": "RGB 0..255 (dlib.get_face_chip, padding 0.25)",
        "licence": "CC0-1.0",
    }
    model = build_onnx(net, metadata)
    payload = model.SerializeToString(deterministic=True)
    args.out.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    nodes = len(model.graph.node)
    sys.stdout.write(f"{args.model_id}: {nodes} nodes, sha256 {digest} -> {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
