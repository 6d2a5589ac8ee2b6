"""``qms-tv say "TEXT"``: speak a text through the configured engine and speaker, for technicians.

The TV's command line calls ``main(argv, voice=..., repeat=..., ...)`` with the
defaults taken from ``/etc/qms/node.toml``; the options override them. Also
runnable on its own: ``python -m audio.say "Mời khách hàng số 105 đến quầy 2"``.

Exit status: 0 spoken (or written), 1 the engine cannot run (with --strict) or
the text is empty, 2 no audio output could be opened.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from audio.engines import EngineUnavailable, engine_from_setting
from audio.numbers import style_for_dialect
from audio.phrases import PhraseCache
from audio.player import Announcer

MAX_WAIT_PER_REPEAT = 120.0


def build_parser(voice: str, repeat: int, dialect: str, chime: bool, volume: float) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qms-tv say",
        description="Speak TEXT in the hall the way the TV announces calls (numbers are read in Vietnamese words).",
    )
    parser.add_argument("text", nargs="+", help="what to say, e.g. \"Mời khách hàng số 105 đến quầy 2\"")
    parser.add_argument("--voice", default=voice,
                        help=f"a piper .onnx voice file, espeak, or none (default: {voice})")
    parser.add_argument("--repeat", type=int, default=repeat, help=f"times to say it (default: {repeat})")
    parser.add_argument("--dialect", choices=("standard", "north", "south"), default=dialect,
                        help=f"how numbers are read (default: {dialect})")
    parser.add_argument("--no-chime", dest="chime", action="store_false", default=chime,
                        help="no ding-dong before the text")
    parser.add_argument("--volume", type=float, default=volume, help=f"0.0 to 1.0 (default: {volume})")
    parser.add_argument("--output", metavar="FILE.wav", help="write the sound to a WAV file instead of playing it")
    parser.add_argument("--strict", action="store_true",
                        help="fail if the voice cannot be used, instead of falling back to espeak-ng or silence")
    return parser


def main(argv: list[str] | None = None, *, voice: str = "espeak", repeat: int = 1, dialect: str = "standard",
         chime: bool = True, volume: float = 1.0) -> int:
    args = build_parser(voice, repeat, dialect, chime, volume).parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    text = " ".join(args.text).strip()
    if not text:
        print("say: nothing to say", file=sys.stderr)
        return 1
    if args.repeat < 1:
        print("say: --repeat must be at least 1", file=sys.stderr)
        return 1
    try:
        engine = engine_from_setting(args.voice, dialect=args.dialect, fallback=not args.strict)
    except EngineUnavailable as error:
        print(f"say: {error}", file=sys.stderr)
        return 1
    phrases = PhraseCache(engine, style=style_for_dialect(args.dialect))
    announcer = Announcer(phrases, repeat=args.repeat, chime=args.chime, volume=max(0.0, min(1.0, args.volume)))
    print(f"say: {engine.describe()}: {phrases.render_text(text).text}", file=sys.stderr)
    if args.output:
        clip = announcer.full_clip(text, sample_rate=announcer.mixer_frequency).scaled(announcer.volume)
        Path(args.output).write_bytes(clip.to_wav())
        print(f"say: wrote {args.output} ({clip.duration:.1f} s)", file=sys.stderr)
        return 0
    with announcer:
        if announcer.silent:
            print(f"say: no audio output: {announcer.silent_reason}", file=sys.stderr)
            return 2
        announcer.announce(text)
        announcer.wait_idle(timeout=MAX_WAIT_PER_REPEAT * args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
