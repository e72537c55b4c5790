"""The voices on offer (Piper voice packages and espeak-ng voices) and a sample of each."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from app.api.deps import SettingsDep
from app.api.files import local_file, stored_file
from app.api.routes import ERRORS, NOT_FOUND
from app.schemas import ErrorResponse, VoiceList, VoiceRead
from app.voice_samples import stored_voice_sample, voice_sample
from app.voices import installed_voices

router = APIRouter(prefix="/api", tags=["voices"])


@router.get("/voices", response_model=VoiceList, responses={**ERRORS}, summary="Voices")
async def get_voices(settings: SettingsDep) -> VoiceList:
    """The installed voices and the one a job gets without `voice`. Listing runs `espeak-ng
    --voices` once per process (then cached), in a thread so the event loop never waits on it."""
    voices, default = await asyncio.to_thread(
        installed_voices,
        piper_voice=settings.piper_voice,
        prefer_piper=settings.tts_provider in ("auto", "piper"),
    )
    return VoiceList(
        voices=[VoiceRead(**asdict(voice), default=voice.id == default) for voice in voices],
        default=default,
    )


@router.get(
    "/voices/{voice_id}/sample",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "A sentence in this voice"},
        **ERRORS,
        **NOT_FOUND,
        503: {"model": ErrorResponse, "description": "The voice's engine failed"},
    },
    summary="Hear a voice",
)
async def get_voice_sample(voice_id: str, settings: SettingsDep, request: Request) -> Response:
    """A sentence spoken by the voice (WAV), made on first request and kept in the data folder
    or the bucket."""
    store = settings.object_store
    if store is not None:
        key = await asyncio.to_thread(
            stored_voice_sample, voice_id, store=store, piper_voice=settings.piper_voice
        )
        return await stored_file(store, key, request, media_type="audio/wav", filename=None)
    path = await asyncio.to_thread(
        voice_sample,
        voice_id,
        samples_dir=settings.data_dir / "voice-samples",
        piper_voice=settings.piper_voice,
    )
    return local_file(path, media_type="audio/wav")
