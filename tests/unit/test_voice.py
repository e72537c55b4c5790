"""Voice timing maths, engine choice and the no-audio check, with an in-process engine."""

from __future__ import annotations

import itertools
import math
import shutil
import wave
from array import array
from pathlib import Path

import pytest

from app.voices import find_piper_voice, parse_espeak_voices
from worker.cache import FileCache
from worker.errors import PipelineError
from worker.options import VoiceOptions
from worker.pipeline.voice import (
    PAUSE_S,
    aligned_words,
    apportion_words,
    engine_words,
    speech_bounds,
    speech_spans,
    synthesize_voice,
)
from worker.providers import tts
from worker.providers.piper_model import word_marks

RATE_HZ = 22_050


def tone(*, silence_s: float, speech_s: float, rate_hz: int = RATE_HZ) -> array[int]:
    """Silence, then a 300 Hz tone, then the same silence again."""
    quiet = [0] * round(silence_s * rate_hz)
    loud = [
        round(12_000 * math.sin(2 * math.pi * 300 * n / rate_hz))
        for n in range(round(speech_s * rate_hz))
    ]
    return array("h", quiet + loud + quiet)


class ToneEngine:
    """Speaks every sentence as 0.2 s of silence, 0.1 s of tone per word, 0.2 s of silence."""

    name = "tone"

    def __init__(self, identity: str = "tone 1") -> None:
        self.identity = identity
        self.spoken: list[str] = []  # every sentence it was asked for

    def synthesize(
        self, sentences: list[str], out_dir: Path, *, voice: str | None, language: str,
        on_sentence: tts.OnSentence | None = None,
    ) -> list[tts.Spoken]:  # fmt: skip
        out_dir.mkdir(parents=True, exist_ok=True)
        self.spoken += sentences
        paths = []
        for index, sentence in enumerate(sentences):
            samples = tone(silence_s=0.2, speech_s=0.1 * len(sentence.split()))
            paths.append(
                tts.Spoken(tts.write_wav(tts.part_path(out_dir, index), samples, rate_hz=RATE_HZ))
            )
            if on_sentence is not None:
                on_sentence(index + 1)
        return paths


def test_sentences_are_joined_with_pauses_and_timed_where_speech_starts(tmp_path: Path) -> None:
    progress: list[float] = []
    sentences = ["One two three four five.", "Six seven eight nine ten eleven twelve."]

    track = synthesize_voice(
        sentences, tmp_path, language="en", voice=None, options=VoiceOptions(),
        on_progress=progress.append, engine=ToneEngine(),
    )  # fmt: skip

    assert track.path == tmp_path / "voice.wav" and track.engine == "tone"
    parts_s = [0.4 + 0.5, 0.4 + 0.7]
    assert track.duration_s == pytest.approx(sum(parts_s) + PAUSE_S, abs=1e-3)
    with wave.open(str(track.path), "rb") as reader:
        assert reader.getnframes() / reader.getframerate() == pytest.approx(track.duration_s)
    first, second = track.sentences
    assert (first.start_s, first.end_s) == (
        pytest.approx(0.2, abs=0.01),
        pytest.approx(0.7, abs=0.01),
    )
    second_start_s = parts_s[0] + PAUSE_S + 0.2
    assert second.start_s == pytest.approx(second_start_s, abs=0.01)
    assert second.end_s == pytest.approx(second_start_s + 0.7, abs=0.01)
    assert progress == [0.0, 0.45, 0.9, 1.0]


def test_words_share_their_sentence_by_spoken_weight() -> None:
    words = apportion_words("Pi, is 3 exactly.", 1.0, 3.0)

    assert [word.text for word in words] == ["Pi,", "is", "3", "exactly."]
    assert words[0].start_s == 1.0 and words[-1].end_s == pytest.approx(3.0)
    assert words[1].start_s > words[0].end_s  # a short pause at the comma
    assert words[2].end_s - words[2].start_s > words[1].end_s - words[1].start_s  # "three"
    for earlier, later in itertools.pairwise(words):
        assert earlier.start_s < earlier.end_s <= later.start_s


def test_speech_bounds_skip_the_silence_around_speech() -> None:
    samples = tone(silence_s=0.3, speech_s=1.0)

    start, end = speech_bounds(samples, rate_hz=RATE_HZ)

    assert start / RATE_HZ == pytest.approx(0.3, abs=0.01)
    assert end / RATE_HZ == pytest.approx(1.3, abs=0.01)
    assert speech_bounds(array("h", [0] * 1000), rate_hz=RATE_HZ) == (0, 1000)


def test_espeak_tries_the_voice_then_the_language_then_its_base() -> None:
    assert tts.espeak_candidates(voice="en_us_001", language="pt_BR") == [
        "en_us_001", "pt-br", "pt",
    ]  # fmt: skip
    assert tts.espeak_candidates(voice=None, language="en") == ["en"]


@pytest.mark.parametrize("content", [None, b"", b"RIFF\x00\x00"])
def test_no_audio_names_the_engine_and_the_sentence(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "0000.wav"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(PipelineError) as caught:
        tts.check_audio(path, engine="piper:x", index=2, sentence="Hello.")

    assert caught.value.message == "piper:x produced no audio for sentence 3 ('Hello.')"


def test_a_header_only_wav_is_no_audio(tmp_path: Path) -> None:
    path = tts.write_wav(tmp_path / "0000.wav", array("h"), rate_hz=RATE_HZ)

    with pytest.raises(PipelineError, match="no audio for sentence 1"):
        tts.check_audio(path, engine="espeak-ng:en", index=0, sentence="...")


def test_auto_uses_piper_for_english_and_espeak_for_other_languages() -> None:
    options = VoiceOptions(espeak_exe="/usr/bin/espeak-ng")

    english = tts.engine_for(options, language="en-GB", voice=None)
    german = tts.engine_for(options, language="de", voice=None)
    requested = tts.engine_for(options, language="de", voice="en_US-joe-medium")

    assert isinstance(english, tts.PiperEngine) and english.name == "piper:en_US-joe-medium"
    assert isinstance(german, tts.EspeakEngine)
    assert isinstance(requested, tts.PiperEngine)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_auto_honours_a_requested_espeak_voice() -> None:
    options = VoiceOptions(espeak_exe=shutil.which("espeak-ng"))

    assert isinstance(tts.engine_for(options, language="en", voice="en-gb"), tts.EspeakEngine)


def test_missing_espeak_says_how_to_install_it() -> None:
    with pytest.raises(PipelineError) as caught:
        tts.engine_for(VoiceOptions(espeak_exe=None), language="de", voice=None)

    assert "apt-get install espeak-ng" in caught.value.message
    assert caught.value.retryable is False


def test_explicit_providers() -> None:
    openai = tts.engine_for(
        VoiceOptions(provider="openai", speech_base_url="http://tts.local/v1/"),
        language="en", voice=None,
    )  # fmt: skip
    assert isinstance(openai, tts.OpenAISpeechEngine)
    assert openai.url == "http://tts.local/v1/audio/speech"
    with pytest.raises(PipelineError, match="'en_US-nobody-low' is not installed"):
        tts.engine_for(
            VoiceOptions(provider="piper", piper_voice="en_US-nobody-low"),
            language="en",
            voice=None,
        )


def test_piper_voice_by_model_path(tmp_path: Path) -> None:
    model = tmp_path / "de_DE-anna-low.onnx"
    model.write_bytes(b"onnx")
    model.with_name(model.name + ".json").write_text('{"language": {"code": "de_DE"}}')

    files = find_piper_voice(str(model))

    assert files is not None
    assert (files.voice.id, files.voice.name, files.voice.language) == (
        "de_DE-anna-low", "Anna (de-DE)", "de-DE",
    )  # fmt: skip
    assert find_piper_voice(str(tmp_path / "missing.onnx")) is None


def test_espeak_voice_listing_is_parsed() -> None:
    listing = (
        "Pty Language       Age/Gender VoiceName          File                 Other Languages\n"
        " 5  af              --/M      Afrikaans          gmw/af               \n"
        " 5  cmn             --/M      Chinese_(Mandarin,_latin_as_English) sit/cmn  (zh-cmn 5)\n"
        " 2  en-gb           --/M      English_(Great_Britain) gmw/en            (en 2)\n"
    )

    voices = parse_espeak_voices(listing)

    assert [(v.id, v.name, v.engine) for v in voices] == [
        ("af", "Afrikaans", "espeak-ng"),
        ("cmn", "Chinese (Mandarin, latin as English)", "espeak-ng"),
        ("en-gb", "English (Great Britain)", "espeak-ng"),
    ]


def test_an_engine_that_does_not_run_is_worth_a_retry(tmp_path: Path) -> None:
    engine = tts.EspeakEngine(str(tmp_path / "no-such-espeak"))

    with pytest.raises(PipelineError) as caught:
        engine._run("en", text="Hello.", out=tmp_path / "out.wav")

    assert caught.value.retryable
    assert caught.value.message.startswith("espeak-ng did not run:")


def test_an_engine_that_refuses_the_voice_is_not(tmp_path: Path) -> None:
    refusing = shutil.which("false")
    assert refusing is not None
    engine = tts.EspeakEngine(refusing)

    with pytest.raises(PipelineError) as caught:
        engine._run("xx", text="Hello.", out=tmp_path / "out.wav")

    assert not caught.value.retryable
    assert caught.value.message == "espeak-ng failed with voice 'xx': no output"
    assert caught.value.stage == "voice"


def test_engine_word_marks_time_the_words_and_fill_the_unmarked() -> None:
    text = "Wait, the tide — it turns."
    marks = (
        tts.WordMark(0, 4, 0.0), tts.WordMark(6, 3, 0.52), tts.WordMark(10, 4, 0.66),
        tts.WordMark(17, 2, 1.34), tts.WordMark(20, 5, 1.51),
    )  # fmt: skip
    words = engine_words(text, marks, offset_s=10.0, start_s=10.05, end_s=11.9)

    assert [word.text for word in words] == ["Wait,", "the", "tide", "—", "it", "turns."]
    starts = [round(word.start_s, 3) for word in words]
    # The first word at the speech, not the engine's lead-in; the dash halfway between.
    assert starts == [10.05, 10.52, 10.66, 11.0, 11.34, 11.51]
    assert [round(word.end_s, 3) for word in words] == [*starts[1:], 11.9]


def test_without_engine_times_each_clause_goes_in_its_stretch_of_speech() -> None:
    spans = [(1.0, 1.5), (1.62, 1.7), (2.0, 2.6), (3.0, 3.9)]  # the 0.3 s and 0.4 s gaps are pauses
    words = aligned_words("One two, three four; five six seven.", spans)

    firsts = [(words[i].text, round(words[i].start_s, 2)) for i in (0, 2, 4)]
    assert firsts == [("One", 1.0), ("three", 2.0), ("five", 3.0)]
    assert round(words[1].end_s, 2) <= 1.7 and round(words[3].end_s, 2) == 2.6
    # Too few pauses for the clauses: the sentence is shared out as a whole.
    assert aligned_words("One, two, three.", [(0.0, 1.0)]) == apportion_words(
        "One, two, three.", 0.0, 1.0
    )


def test_speech_spans_split_where_the_voice_stops() -> None:
    samples = tone(silence_s=0.2, speech_s=0.3)  # its trailing 0.2 s is the pause
    samples.extend(tone(silence_s=0.0, speech_s=0.3))
    spans = speech_spans(samples, rate_hz=RATE_HZ)
    assert [(round(a / RATE_HZ, 1), round(b / RATE_HZ, 1)) for a, b in spans] == [
        (0.2, 0.5), (0.7, 1.0)
    ]  # fmt: skip


def test_piper_word_times_follow_the_words_espeak_speaks_for_each() -> None:
    spoken = {"In": 1, "2024": 4, "we": 1, "grew.": 1}  # "twenty twenty four": 4 with "two"
    starts = [0.0, 0.2, 0.5, 0.8, 1.1, 1.5, 1.7]
    marks = word_marks("In 2024 we grew.", starts, spoken_words=spoken.__getitem__)
    assert [(mark.char_start, mark.at_s) for mark in marks] == [(0, 0.0), (3, 0.2), (8, 1.5),
                                                                 (11, 1.7)]  # fmt: skip
    # When the counts do not add up to what was spoken, the times are spread evenly.
    uneven = word_marks("In 2024 we grew.", starts[:5], spoken_words=spoken.__getitem__)
    assert [mark.at_s for mark in uneven] == [0.0, 0.2, 0.5, 0.8]


def test_a_sentence_spoken_before_in_the_same_voice_is_taken_from_the_cache(
    tmp_path: Path,
) -> None:
    cache = FileCache(tmp_path / "cache")
    sentences = ["One two three.", "Four five six seven.", "Eight nine."]

    def speak(work: str, texts: list[str], engine: ToneEngine) -> tuple[bytes, list[str]]:
        """voice.wav's bytes, and the sentences the engine was asked to speak."""
        track = synthesize_voice(
            texts, tmp_path / work, language="en", voice="v", options=VoiceOptions(),
            on_progress=lambda _: None, engine=engine, cache=cache,
        )  # fmt: skip
        assert track.reused == len(texts) - len(engine.spoken)
        return track.path.read_bytes(), engine.spoken

    first, spoken = speak("first", sentences, ToneEngine())
    assert spoken == sentences
    again, spoken = speak("again", sentences, ToneEngine())
    assert (again, spoken) == (first, [])  # nothing spoken, the same voice.wav

    edited = [sentences[0], "Four five six seven eight.", sentences[2]]
    _, spoken = speak("edited", edited, ToneEngine())
    assert spoken == ["Four five six seven eight."]  # only the changed sentence

    _, spoken = speak("other", sentences, ToneEngine(identity="tone 2"))  # another model
    assert spoken == sentences
    assert len(list((tmp_path / "cache" / "voice").glob("*.wav"))) == 7
