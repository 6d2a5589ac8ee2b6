"""The TV's speaker made ready in the background: the board first, then the voice; nothing asked meanwhile lost."""

from __future__ import annotations

import threading

from protocol import messages as m
from tv_node.speech import BackgroundSpeaker, RecordingSpeaker

WAIT = 10.0


def call(number: int) -> m.TicketAnnouncementPayload:
    return m.TicketAnnouncementPayload(ticket_number=number, counter_id=2, counter_name="Tư pháp - Hộ tịch",
                                       announcement_text=f"Mời khách hàng số {number} đến quầy số 2",
                                       audio_url=None, display_duration=10)


class SlowVoice:
    """Makes a RecordingSpeaker once ``loaded`` is set: a piper voice loading on a Pi."""

    def __init__(self) -> None:
        self.loaded = threading.Event()
        self.made: list[RecordingSpeaker] = []

    def __call__(self) -> RecordingSpeaker:
        assert self.loaded.wait(WAIT)
        speaker = RecordingSpeaker()
        self.made.append(speaker)
        return speaker


def test_what_is_asked_before_the_voice_is_ready_is_passed_on_in_order_once_it_is():
    voice = SlowVoice()
    speaker = BackgroundSpeaker(voice)
    speaker.start()  # returns at once: the voice is still loading
    speaker.prewarm(["Tư pháp - Hộ tịch"], "Mời khách hàng số {number} đến quầy số {counter_number}")
    speaker.announce(call(2001), 1.0)
    # A second SNAPSHOT (the hub restarted) replaces the first's prewarm; calls all wait.
    speaker.prewarm(["Tư pháp - Hộ tịch", "Bảo hiểm xã hội"], "Kính mời số {number} đến {counter_name}")
    speaker.announce(call(2002), 2.0)
    assert not speaker.ready.is_set() and voice.made == []
    voice.loaded.set()
    assert speaker.ready.wait(WAIT)
    (ready,) = voice.made
    assert ready.started
    assert [c.ticket_number for c in ready.announced] == [2001, 2002]
    assert ready.prewarmed == [("Tư pháp - Hộ tịch", "Bảo hiểm xã hội")]
    assert ready.templates == ["Kính mời số {number} đến {counter_name}"]
    # Once ready, straight through.
    speaker.announce(call(2003), 3.0)
    assert [c.ticket_number for c in ready.announced] == [2001, 2002, 2003]
    speaker.stop()
    assert ready.stopped


def test_stopped_before_the_voice_is_ready_it_closes_the_voice_when_it_comes():
    voice = SlowVoice()
    speaker = BackgroundSpeaker(voice)
    speaker.start()
    speaker.announce(call(2001), 1.0)
    speaker.stop()
    voice.loaded.set()
    assert speaker.ready.wait(WAIT)
    (ready,) = voice.made
    assert ready.stopped and ready.announced == []
    speaker.announce(call(2002), 2.0)
    assert ready.announced == []


def test_a_voice_that_cannot_be_made_leaves_calls_shown_not_heard(caplog):
    def broken() -> RecordingSpeaker:
        raise OSError("the voice file is unreadable")

    speaker = BackgroundSpeaker(broken)
    speaker.start()
    assert speaker.ready.wait(WAIT)
    speaker.announce(call(2001), 1.0)  # no error: the board goes on without speech
    speaker.stop()
    assert "calls will be shown, not heard" in caplog.text
