"""A tiny piper voice built with onnx.helper, so the real PiperEngine path runs in CI.

The graph has the inputs piper-tts 1.8 feeds a VITS voice (``input`` int64
[1, N] phoneme ids, ``input_lengths`` int64 [1], ``scales`` float32 [3]: noise,
length, noise_w; no ``sid``, it is single-speaker) and one output ``output``
float32 [1, 1, 1, T], the shape piper's exporter produces (the generator's
[B, 1, T] with ``unsqueeze(1)``); piper squeezes it to [T].

The "speech" is a sine whose length is proportional to N (``samples_per_id``
samples per phoneme id, times the length scale): longer text, longer audio.
Its config uses piper's own default phoneme id map, which is also the map of the
published Vietnamese voices and covers every phoneme piper's bundled espeak-ng
produces for Vietnamese (piper skips an unknown phoneme with a warning).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
from onnx import TensorProto, helper
from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

TINY_SAMPLE_RATE = 16000
TINY_SAMPLES_PER_ID = 256
TINY_TONE_HZ = 220.0


def tiny_voice_model(sample_rate: int = TINY_SAMPLE_RATE, samples_per_id: int = TINY_SAMPLES_PER_ID,
                     tone_hz: float = TINY_TONE_HZ) -> onnx.ModelProto:
    def const(name: str, value, dtype=TensorProto.FLOAT, dims=()):
        values = value if isinstance(value, list) else [value]
        return helper.make_node("Constant", [], [name],
                                value=helper.make_tensor(name + "_value", dtype, list(dims), values))

    nodes = [
        const("one", 1, TensorProto.INT64),
        const("length_index", 1, TensorProto.INT64),
        const("samples_per_id", float(samples_per_id)),
        const("zero_f", 0.0),
        const("one_f", 1.0),
        const("radians_per_sample", 2 * math.pi * tone_hz / sample_rate),
        const("amplitude", 0.5),
        const("output_shape", [1, 1, 1, -1], TensorProto.INT64, dims=(4,)),
        # N = input.shape[1]
        helper.make_node("Shape", ["input"], ["input_shape"]),
        helper.make_node("Gather", ["input_shape", "one"], ["ids_count"], axis=0),
        helper.make_node("Cast", ["ids_count"], ["ids_count_f"], to=TensorProto.FLOAT),
        # T = floor(N * samples_per_id * length_scale)
        helper.make_node("Gather", ["scales", "length_index"], ["length_scale"], axis=0),
        helper.make_node("Mul", ["ids_count_f", "samples_per_id"], ["samples_unscaled"]),
        helper.make_node("Mul", ["samples_unscaled", "length_scale"], ["samples_scaled"]),
        helper.make_node("Floor", ["samples_scaled"], ["samples_count"]),
        # audio = amplitude * sin(2 pi f t / rate), t = 0..T-1
        helper.make_node("Range", ["zero_f", "samples_count", "one_f"], ["sample_index"]),
        helper.make_node("Mul", ["sample_index", "radians_per_sample"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Mul", ["wave", "amplitude"], ["audio"]),
        helper.make_node("Reshape", ["audio", "output_shape"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper_voice",
        inputs=[
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        outputs=[helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "time"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="qms-tests-tiny-voice")
    model.ir_version = 8  # what onnxruntime builds of the last few years all read
    onnx.checker.check_model(model)
    return model


def tiny_voice_config(sample_rate: int = TINY_SAMPLE_RATE) -> dict:
    return {
        "dataset": "tiny-test-voice",
        "audio": {"sample_rate": sample_rate, "quality": "x_low"},
        "espeak": {"voice": "vi"},
        "language": {"code": "vi_VN"},
        "phoneme_type": "espeak",
        "num_symbols": 256,
        "num_speakers": 1,
        "speaker_id_map": {},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "piper_version": "1.8.0",
    }


def write_tiny_voice(directory: str | Path, name: str = "vi_VN-tiny-test", **model_options) -> Path:
    """Write ``<name>.onnx`` and ``<name>.onnx.json`` into ``directory``; the .onnx path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / f"{name}.onnx"
    onnx.save(tiny_voice_model(**model_options), str(model_path))
    sample_rate = model_options.get("sample_rate", TINY_SAMPLE_RATE)
    Path(f"{model_path}.json").write_text(
        json.dumps(tiny_voice_config(sample_rate), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return model_path
