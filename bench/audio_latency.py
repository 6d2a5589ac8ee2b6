"""Speech latency: a call's arrival to its first sample handed to the mixer, cached against uncached.

For each engine (espeak-ng, the tests' tiny piper voice, and a real piper voice
when ``--voice`` names one), through the real Announcer and pygame.mixer:

- **first sample**: ``announce()`` to the chime (or, without a chime, the
  speech) handed to the mixer, the ``started`` event;
- **speech**: ``announce()`` to the speech handed to the mixer, the ``speech``
  event: the phrase cache's assembly (cached) or whole-sentence synthesis
  (uncached, a fresh cache each round so nothing is reused);
- **real-time factor**: synthesis time / audio length of the whole sentence
  (below 1: faster than it is spoken).

The mixer runs SDL's disk driver into /dev/null (faster than real time, so
rounds do not wait for playback); "handed to the mixer" is the moment
``Channel.play``/``queue`` returns. A real device adds its buffer on top
(1024 frames at 22.05 kHz: 46 ms).

``python -m bench.audio_latency [--rounds 10] [--voice /path/vi_VN-vais1000-medium.onnx] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audio.engines import EngineUnavailable, EspeakEngine, PiperEngine, SpeechEngine
from audio.phrases import Call, PhraseCache
from audio.player import Announcer, PlaybackEvent
from bench.harness import machine, percentiles

SENTENCE_CALL = Call(105, "Văn phòng đăng ký đất đai", 1, 1)
COUNTERS = ["Văn phòng đăng ký đất đai", "Tư pháp - Hộ tịch", "Thuế", "Bảo hiểm xã hội"]
# The numbers painted above those counters' desks: the default template says "đến quầy số {counter_number}".
COUNTER_NUMBERS = (1, 2, 3, 4)


def counter_call(number: int, index: int) -> Call:
    """A call to the index-th counter, as the TV gets it: the counter's name, id and number."""
    which = index % len(COUNTERS)
    return Call(number, COUNTERS[which], COUNTER_NUMBERS[which], COUNTER_NUMBERS[which])
WAIT = 120.0


def real_time_factor(engine: SpeechEngine, text: str, rounds: int) -> dict[str, float]:
    engine.synthesize(text)  # first call loads/phonemizer-initialises: not what a call costs
    times, duration = [], 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        clip = engine.synthesize(text)
        times.append(time.perf_counter() - start)
        duration = clip.duration
    synth = statistics.median(times)
    return {"synth_ms": synth * 1000, "audio_s": duration, "rtf": synth / duration}


def _round(announcer: Announcer, call: Call) -> dict[str, PlaybackEvent]:
    seen: dict[str, PlaybackEvent] = {}

    def record(event: PlaybackEvent) -> None:
        seen.setdefault(event.kind, event)

    announcer.on_event = record
    announcer.announce(call, arrived_at=time.monotonic())
    if not announcer.wait_idle(WAIT):
        raise RuntimeError("an announcement did not finish")
    return seen


def latencies(engine: SpeechEngine, *, cached: bool, chime: bool, rounds: int) -> dict[str, Any]:
    first: list[float] = []
    speech: list[float] = []
    phrases = PhraseCache(engine)
    if cached:
        phrases.warm_up(COUNTERS, counter_numbers=COUNTER_NUMBERS, background=False)
    announcer = Announcer(phrases, repeat=1, chime=chime, repeat_gap=0.0, chime_gap=0.0, after_gap=0.0)
    with announcer:
        if announcer.silent:
            raise RuntimeError(f"no mixer: {announcer.silent_reason}")
        _round(announcer, counter_call(1, 0))  # warm the worker and the mixer path
        for index in range(rounds):
            if not cached:
                # A fresh cache: neither the sentence nor its pieces are known.
                phrases.wait_warm(WAIT)
                phrases = PhraseCache(engine)
                announcer.phrases = phrases
            call = counter_call(100 + 7 * index, index)
            events = _round(announcer, call)
            first.append(events["started"].latency)
            speech.append(events["speech"].latency)
            if cached and not events["speech"].cached:
                raise RuntimeError("a warmed cache missed")
        phrases.wait_warm(WAIT)
    return {"first_sample": percentiles(first), "speech": percentiles(speech)}


def assembly_cost(engine: SpeechEngine, rounds: int) -> dict[str, float]:
    phrases = PhraseCache(engine)
    phrases.warm_up(COUNTERS, counter_numbers=COUNTER_NUMBERS, background=False)
    times = []
    for index in range(max(rounds, 20)):
        start = time.perf_counter()
        rendered = phrases.render(counter_call(1000 + index, index))
        times.append(time.perf_counter() - start)
        assert rendered.cached
    return percentiles(times)


def engines(voice: str | None, workdir: Path) -> list[tuple[str, SpeechEngine]]:
    found: list[tuple[str, SpeechEngine]] = []
    try:
        found.append(("espeak-ng vi", EspeakEngine("vi")))
    except EngineUnavailable as error:
        print(f"skipping espeak-ng: {error}", file=sys.stderr)
    # The tests' tiny voice: piper's real pipeline (phonemizer, ids, onnxruntime) with a trivial model.
    from tests.support.tiny_voice import write_tiny_voice

    found.append(("piper tiny test voice", PiperEngine(write_tiny_voice(workdir))))
    if voice:
        found.append((f"piper {Path(voice).name}", PiperEngine(voice)))
    return found


def measure(voice: str | None = None, rounds: int = 10, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="qms-audio-bench-") as workdir:
        for name, engine in engines(voice, Path(workdir)):
            row: dict[str, Any] = {"engine": name}
            row["rtf"] = real_time_factor(engine, PhraseCache(engine).template.sentence(SENTENCE_CALL), rounds)
            row["assembly"] = assembly_cost(engine, rounds)
            for cached in (True, False):
                for chime in (True, False):
                    key = f"{'cached' if cached else 'uncached'}_{'chime' if chime else 'no_chime'}"
                    row[key] = latencies(engine, cached=cached, chime=chime, rounds=rounds)
            rows.append(row)
            log(_format_row(row))
    return rows


def _format_row(row: dict[str, Any]) -> str:
    def ms(stats: dict[str, float]) -> str:
        return f"{stats['p50_ms']:7.1f} / {stats['p95_ms']:7.1f}"

    lines = [
        f"{row['engine']}: synthesis {row['rtf']['synth_ms']:.1f} ms for {row['rtf']['audio_s']:.2f} s of speech,"
        f" real-time factor {row['rtf']['rtf']:.3f}; cached assembly {ms(row['assembly'])} ms (p50 / p95)",
        "  arrival ->                 first sample (p50 / p95 ms)   speech (p50 / p95 ms)",
    ]
    for key in ("cached_chime", "uncached_chime", "cached_no_chime", "uncached_no_chime"):
        lines.append(f"  {key:<24} {ms(row[key]['first_sample']):>24}   {ms(row[key]['speech']):>20}")
    return "\n".join(lines)


def use_disk_audio() -> None:
    """SDL's disk driver into /dev/null, about 20 times faster than real time; before the mixer opens."""
    os.environ["SDL_AUDIODRIVER"] = "disk"
    os.environ["SDL_DISKAUDIOFILE"] = os.devnull
    os.environ["SDL_DISKAUDIODELAY"] = "2"  # ms per 1024-frame buffer (46 ms of sound)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Speech latency, cached against uncached, and real-time factors")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--voice", help="a real piper voice (.onnx with its .onnx.json) to measure too")
    parser.add_argument("--json", action="store_true", help="print the results as JSON as well")
    args = parser.parse_args(argv)
    use_disk_audio()
    info = machine()
    print(f"machine: {info}")
    rows = measure(args.voice, args.rounds)
    if args.json:
        print(json.dumps({"machine": info, "rows": rows}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
