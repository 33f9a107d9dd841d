"""Convert a MediaPipe ``.tflite`` (BlazeFace, the face mesh, the pose landmarker) to ONNX.

Build step only, run by the *tflite* build venv (models/build_venv.py: ``tflite``, ``onnx``,
``numpy`` and the ``mediapipe`` wheel installed ``--no-deps`` for its model files; no TensorFlow)::

    python -m models.export.tflite_onnx --weights SRC.tflite --out DST.onnx --model-id ID

Why our own converter rather than ``tflite2onnx`` 0.4.1: that package fails on the face mesh
(its PAD and TRANSPOSE handlers index the paddings wrongly) and warns that it has never been
tested on the float16 weights MediaPipe ships. These models use a dozen operators; each is mapped
here in a few lines, so the graph we run is one we can read. The output is **byte-deterministic**
(fixed names, opset, IR version and producer, no timestamps): the manifest pins its sha256
(``export.sha256``) beside the source's, and ``innsight models fetch`` refuses anything else.

Layout: TFLite is NHWC, ONNX convolutions are NCHW. The ONNX input is NCHW (the runtime's
pre-processing writes it so); every 4-D activation stays NCHW, and a tensor is transposed back to
NHWC only where TFLite's semantics depend on memory order (RESHAPE) and at the graph outputs, which
keep TFLite's shapes. The batch dimension is left free (``N``): several crops or camera frames go
through one run. float16 weights (DEQUANTIZE of a constant) are folded to float32; sparse weights
(a DENSIFY of a constant, as in the full-range BlazeFace and BlazePose's person detector: CSR in
the last dimension) are made dense first (:func:`densify_csr_last`).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONVERTER_VERSION = "1"
OPSET = 13
IR_VERSION = 7
PRODUCER = "innsight-tflite-onnx"

# TFLite enums (schema.fbs), spelled out so this module reads without the tflite package.
_PADDING_SAME = 0
_ACT_NONE, _ACT_RELU, _ACT_RELU_N1_TO_1, _ACT_RELU6 = 0, 1, 2, 3
_FLOAT32, _FLOAT16, _INT32 = 0, 1, 2
_NHWC_TO_NCHW = (0, 3, 1, 2)
_NCHW_TO_NHWC = (0, 2, 3, 1)
_AXIS_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def _tflite() -> Any:
    """The ``tflite`` flatbuffer schema package (only in the tflite build venv; no stubs)."""
    return importlib.import_module("tflite")


class ConversionError(RuntimeError):
    """The model uses something this converter does not map."""


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (begin, end) of one spatial axis: the extra pixel at the end."""
    effective = (kernel - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


@dataclass
class _Graph:
    """The ONNX graph under construction; tensors are named by TFLite index (``t<i>``)."""

    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    consts: dict[int, Any] = field(default_factory=dict)
    """TFLite constant tensors (numpy, float16 folded to float32)."""
    nchw: set[int] = field(default_factory=set)
    """4-D activations held in NCHW order."""
    names: dict[int, str] = field(default_factory=dict)
    counter: int = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def initializer(self, array: Any, stem: str) -> str:
        from onnx import numpy_helper

        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


def densify_csr_last(shape: tuple[int, ...], values: Any, segments: Any, indices: Any) -> Any:
    """A TFLite sparse constant whose dimensions are all dense but the last one (CSR), with the
    identity traversal order and no blocks (the layout of MediaPipe's ``*_sparse`` and pose
    detector weights), as a dense array: row ``r`` of the leading dimensions holds
    ``values[segments[r]:segments[r + 1]]`` at columns ``indices[...]``, zeros elsewhere."""
    import numpy as np

    rows = int(np.prod(shape[:-1], dtype=np.int64))
    segments = np.asarray(segments, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    values = np.asarray(values)
    if len(segments) != rows + 1 or int(segments[-1]) != len(values):
        raise ConversionError(f"sparse constant of shape {shape}: inconsistent CSR arrays")
    if len(indices) != len(values) or (len(indices) and int(indices.max()) >= shape[-1]):
        raise ConversionError(f"sparse constant of shape {shape}: indices out of range")
    dense = np.zeros((rows, shape[-1]), dtype=values.dtype)
    row_of = np.repeat(np.arange(rows), np.diff(segments))
    dense[row_of, indices] = values
    return dense.reshape(shape)


def _index_vector(dim: Any, kind: str) -> Any:
    """A DimensionMetadata's ``array_segments``/``array_indices`` (a union of int32, uint16 and
    uint8 vectors) as numpy."""
    tflite = _tflite()

    union_type = dim.ArraySegmentsType() if kind == "segments" else dim.ArrayIndicesType()
    table = dim.ArraySegments() if kind == "segments" else dim.ArrayIndices()
    cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}.get(union_type)
    if cls is None or table is None:
        raise ConversionError(f"sparse {kind} of vector type {union_type} is not mapped")
    vector = cls()
    vector.Init(table.Bytes, table.Pos)
    return vector.ValuesAsNumpy()


def _tensor_array(model: Any, tensor: Any) -> Any:
    import numpy as np

    data = model.Buffers(tensor.Buffer()).DataAsNumpy()
    if isinstance(data, int) or data is None or len(data) == 0:
        return None
    dtype = {_FLOAT32: np.float32, _FLOAT16: np.float16, _INT32: np.int32}.get(tensor.Type())
    if dtype is None:
        raise ConversionError(f"constant {tensor.Name()!r} has unsupported type {tensor.Type()}")
    values = np.frombuffer(data.tobytes(), dtype=dtype)
    shape = tuple(int(v) for v in tensor.ShapeAsNumpy())
    sparsity = tensor.Sparsity()
    if sparsity is None:
        return values.reshape(shape).copy()
    # Sparse weights (consumed by a DENSIFY op): made dense here, once, at conversion time.
    rank = len(shape)
    formats = [sparsity.DimMetadata(d).Format() for d in range(sparsity.DimMetadataLength())]
    order = [int(v) for v in sparsity.TraversalOrderAsNumpy()] if rank else []
    if (
        sparsity.BlockMapLength() != 0
        or order != list(range(rank))
        or formats != [0] * (rank - 1) + [1]
    ):
        raise ConversionError(
            f"sparse constant {tensor.Name()!r}: only a CSR last dimension without blocks is mapped"
        )
    last = sparsity.DimMetadata(rank - 1)
    return densify_csr_last(
        shape, values, _index_vector(last, "segments"), _index_vector(last, "indices")
    )


def _options(op: Any, cls: Any) -> Any:
    table = op.BuiltinOptions()
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


def _activation(g: _Graph, name: str, fused: int) -> str:
    if fused == _ACT_NONE:
        return name
    if fused == _ACT_RELU:
        return g.node("Relu", [name], g.fresh("relu"))
    if fused in (_ACT_RELU6, _ACT_RELU_N1_TO_1):
        lo, hi = (0.0, 6.0) if fused == _ACT_RELU6 else (-1.0, 1.0)
        import numpy as np

        lo_name = g.initializer(np.array(lo, dtype=np.float32), "clip_lo")
        hi_name = g.initializer(np.array(hi, dtype=np.float32), "clip_hi")
        return g.node("Clip", [name, lo_name, hi_name], g.fresh("clip"))
    raise ConversionError(f"fused activation {fused} is not mapped")


def _conv(g: _Graph, op: Any, shapes: dict[int, Any], depthwise: bool) -> str:
    import numpy as np

    tflite = _tflite()

    opts = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
    x, w, b = (op.Inputs(i) for i in range(3))
    weight = g.consts[w]
    in_shape = shapes[x]  # NHWC
    if depthwise:  # [1, KH, KW, C*M] -> [C*M, 1, KH, KW]
        kernel = np.ascontiguousarray(weight.transpose(3, 0, 1, 2))
        group = int(in_shape[3])
    else:  # [O, KH, KW, I] -> [O, I, KH, KW]
        kernel = np.ascontiguousarray(weight.transpose(0, 3, 1, 2))
        group = 1
    kh, kw = int(weight.shape[1]), int(weight.shape[2])
    sh, sw = opts.StrideH(), opts.StrideW()
    dh, dw = opts.DilationHFactor() or 1, opts.DilationWFactor() or 1
    if opts.Padding() == _PADDING_SAME:
        top, bottom = same_pads(int(in_shape[1]), kh, sh, dh)
        left, right = same_pads(int(in_shape[2]), kw, sw, dw)
    else:
        top = bottom = left = right = 0
    inputs = [g.names[x], g.initializer(kernel.astype(np.float32), "w")]
    if b >= 0 and b in g.consts:
        inputs.append(g.initializer(g.consts[b].astype(np.float32).reshape(-1), "b"))
    out = g.node(
        "Conv",
        inputs,
        g.fresh("conv"),
        kernel_shape=[kh, kw],
        strides=[sh, sw],
        dilations=[dh, dw],
        pads=[top, left, bottom, right],
        group=group,
    )
    return _activation(g, out, opts.FusedActivationFunction())


def _max_pool(g: _Graph, op: Any, shapes: dict[int, Any]) -> str:
    tflite = _tflite()

    opts = _options(op, tflite.Pool2DOptions)
    x = op.Inputs(0)
    kh, kw, sh, sw = opts.FilterHeight(), opts.FilterWidth(), opts.StrideH(), opts.StrideW()
    if opts.Padding() == _PADDING_SAME:
        top, bottom = same_pads(int(shapes[x][1]), kh, sh)
        left, right = same_pads(int(shapes[x][2]), kw, sw)
    else:
        top = bottom = left = right = 0
    out = g.node(
        "MaxPool",
        [g.names[x]],
        g.fresh("maxpool"),
        kernel_shape=[kh, kw],
        strides=[sh, sw],
        pads=[top, left, bottom, right],
    )
    return _activation(g, out, opts.FusedActivationFunction())


def _operand(g: _Graph, index: int, other_nchw: bool) -> str:
    """An ADD/PRELU operand: an activation by name, a constant laid out to broadcast in NCHW."""
    import numpy as np

    if index not in g.consts:
        return g.names[index]
    value = g.consts[index].astype(np.float32)
    if other_nchw:
        if value.ndim == 4:
            value = value.transpose(_NHWC_TO_NCHW)
        elif value.ndim == 3:  # H, W, C (PReLU alphas)
            value = value.transpose(2, 0, 1)
        elif value.ndim == 1:
            value = value.reshape(-1, 1, 1)
    return g.initializer(np.ascontiguousarray(value), "c")


def _to_nhwc(g: _Graph, index: int) -> str:
    name = g.names[index]
    if index in g.nchw:
        return g.node("Transpose", [name], g.fresh("to_nhwc"), perm=list(_NCHW_TO_NHWC))
    return name


def _convert_op(g: _Graph, op: Any, shapes: dict[int, Any], opname: str) -> None:
    import numpy as np

    tflite = _tflite()

    ins = [op.Inputs(i) for i in range(op.InputsLength())]
    out_index = op.Outputs(0)
    out_nchw = len(shapes[out_index]) == 4
    if opname == "DEQUANTIZE":
        if ins[0] not in g.consts:
            raise ConversionError("DEQUANTIZE of an activation is not mapped")
        g.consts[out_index] = g.consts[ins[0]].astype(np.float32)
        return
    if opname == "DENSIFY":  # its sparse input was made dense by _tensor_array
        if ins[0] not in g.consts:
            raise ConversionError("DENSIFY of an activation is not mapped")
        g.consts[out_index] = g.consts[ins[0]]
        return
    if opname in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        out = _conv(g, op, shapes, opname == "DEPTHWISE_CONV_2D")
    elif opname == "MAX_POOL_2D":
        out = _max_pool(g, op, shapes)
    elif opname == "PRELU":
        slope = _operand(g, ins[1], ins[0] in g.nchw)
        out = g.node("PRelu", [g.names[ins[0]], slope], g.fresh("prelu"))
    elif opname == "RELU":
        out = g.node("Relu", [g.names[ins[0]]], g.fresh("relu"))
    elif opname == "LOGISTIC":
        out = g.node("Sigmoid", [g.names[ins[0]]], g.fresh("sigmoid"))
        out_nchw = ins[0] in g.nchw
    elif opname == "ADD":
        opts = _options(op, tflite.AddOptions)
        nchw = any(i in g.nchw for i in ins)
        a, b = (_operand(g, i, nchw) for i in ins)
        out = _activation(g, g.node("Add", [a, b], g.fresh("add")), opts.FusedActivationFunction())
        out_nchw = nchw
    elif opname == "PAD":
        pads = g.consts[ins[1]].astype(np.int64).reshape(-1, 2)
        if ins[0] not in g.nchw or pads.shape != (4, 2):
            raise ConversionError("PAD is mapped for 4-D activations only")
        order = list(_NHWC_TO_NCHW)
        flat = [int(pads[a, 0]) for a in order] + [int(pads[a, 1]) for a in order]
        pads_name = g.initializer(np.array(flat, dtype=np.int64), "pads")
        out = g.node("Pad", [g.names[ins[0]], pads_name], g.fresh("pad"), mode="constant")
    elif opname == "DEPTH_TO_SPACE":  # TensorFlow's depth order is ONNX's DCR
        opts = _options(op, tflite.DepthToSpaceOptions)
        if ins[0] not in g.nchw:
            raise ConversionError("DEPTH_TO_SPACE is mapped for 4-D activations only")
        block = int(opts.BlockSize())
        out = g.node("DepthToSpace", [g.names[ins[0]]], g.fresh("d2s"), blocksize=block, mode="DCR")
    elif opname == "RESHAPE":
        shape = np.array(shapes[out_index], dtype=np.int64)
        shape[0] = -1  # the batch: the ONNX model takes any
        shape_name = g.initializer(shape, "shape")
        out = g.node("Reshape", [_to_nhwc(g, ins[0]), shape_name], g.fresh("reshape"))
        out_nchw = False
    elif opname == "CONCATENATION":
        opts = _options(op, tflite.ConcatenationOptions)
        rank = len(shapes[out_index])
        axis = opts.Axis() % rank
        nchw = all(i in g.nchw for i in ins)
        names = [g.names[i] if nchw else _to_nhwc(g, i) for i in ins]
        if nchw:
            axis = _AXIS_NHWC_TO_NCHW[axis]
        concat = g.node("Concat", names, g.fresh("concat"), axis=axis)
        out = _activation(g, concat, opts.FusedActivationFunction())
        out_nchw = nchw
    elif opname == "RESIZE_BILINEAR":
        opts = _options(op, tflite.ResizeBilinearOptions)
        (_, ih, iw, _), (_, oh, ow, _) = shapes[ins[0]], shapes[out_index]
        scales = np.array([1.0, 1.0, oh / ih, ow / iw], dtype=np.float32)
        mode = (
            "align_corners"
            if opts.AlignCorners()
            else "half_pixel"
            if opts.HalfPixelCenters()
            else "asymmetric"
        )
        roi = g.initializer(np.zeros(0, dtype=np.float32), "roi")
        out = g.node(
            "Resize",
            [g.names[ins[0]], roi, g.initializer(scales, "scales")],
            g.fresh("resize"),
            mode="linear",
            coordinate_transformation_mode=mode,
        )
    else:
        raise ConversionError(f"TFLite operator {opname} is not mapped")
    g.names[out_index] = out
    if out_nchw:
        g.nchw.add(out_index)


def _opname(model: Any, op: Any) -> str:
    tflite = _tflite()

    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    return str(names.get(builtin, builtin))


def convert(tflite_bytes: bytes, metadata: dict[str, str]) -> Any:
    """The ONNX ModelProto of a single-subgraph float TFLite model (see the module docstring)."""
    import onnx

    tflite = _tflite()
    from onnx import TensorProto, helper

    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    if model.SubgraphsLength() != 1:
        raise ConversionError("only single-subgraph models are mapped")
    sub = model.Subgraphs(0)
    g = _Graph()
    shapes: dict[int, Any] = {}
    for i in range(sub.TensorsLength()):
        tensor = sub.Tensors(i)
        shapes[i] = tuple(int(v) for v in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        array = _tensor_array(model, tensor)
        if array is not None:
            g.consts[i] = array
    if sub.InputsLength() != 1:
        raise ConversionError("only single-input models are mapped")
    inp = sub.Inputs(0)
    _, h, w, c = shapes[inp]
    g.names[inp] = "input"
    g.nchw.add(inp)
    graph_input = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, h, w])
    for k in range(sub.OperatorsLength()):
        op = sub.Operators(k)
        _convert_op(g, op, shapes, _opname(model, op))
    outputs = []
    for k in range(sub.OutputsLength()):
        index = sub.Outputs(k)
        name = sub.Tensors(index).Name().decode()
        g.node("Identity", [_to_nhwc(g, index)], name)
        dims: list[int | str] = ["N", *shapes[index][1:]]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    graph = helper.make_graph(g.nodes, "tflite", [graph_input], outputs, g.initializers)
    onnx_model = helper.make_model(
        graph,
        producer_name=PRODUCER,
        producer_version=CONVERTER_VERSION,
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    onnx_model.ir_version = IR_VERSION
    for key in sorted(metadata):
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, metadata[key]
    onnx.checker.check_model(onnx_model)
    return onnx_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, type=Path, help="the .tflite file")
    parser.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--input-size", required=True, help="H,W the model expects")
    args = parser.parse_args(argv)
    data = args.weights.read_bytes()
    metadata = {
        "model_id": args.model_id,
        "source_file": args.weights.name,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "converter": f"{PRODUCER} {CONVERTER_VERSION}",
        "input_layout": "NCHW",
        "input_size": json.dumps([int(v) for v in args.input_size.split(",")]),
        "licence": "Apache-2.0",
    }
    model = convert(data, metadata)
    args.out.write_bytes(model.SerializeToString(deterministic=True))
    sys.stdout.write(f"{args.model_id}: {len(model.graph.node)} nodes -> {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
