"""Song folders in real Chromium: a folder picked on the Music page, and the original
MoneyPrinter page's upload (its `<input webkitdirectory>` files appended to FormData as they are,
which Chromium names `songs/<file>`): the MP3s stored, every other file skipped with its reason."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import Server, screenshot
from playwright.sync_api import Page, expect

NOT_MP3 = "not an MP3 file (an MP3 starts with an ID3 tag or an MPEG audio frame)"
# What Frontend/app.js `uploadSongs` does with the folder's files (the original page).
ORIGINAL_UPLOAD_JS = """async () => {
    const files = document.querySelector('#original-folder').files;
    const mp3s = Array.from(files).filter((f) => f.name.toLowerCase().endsWith('.mp3'));
    const formData = new FormData();
    mp3s.forEach((file) => formData.append('songs', file));
    // The body as Chromium encodes it, the same for fetch (Playwright does not show file bodies).
    const sent = await new Response(formData).text();
    const response = await fetch('/api/upload-songs', { method: 'POST', body: formData });
    return { status: response.status, body: await response.json(), sent };
}"""


def song_folder(tmp_path: Path, tiny_mp3: Path) -> Path:
    folder = tmp_path / "songs"
    folder.mkdir()
    shutil.copy(tiny_mp3, folder / "Morning.mp3")
    shutil.copy(tiny_mp3, folder / "Evening.mp3")
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(200))
    (folder / "notes.txt").write_text("two tracks\n")
    # Named like a song, but a playlist naming another file: refused by its content.
    (folder / "Fake.mp3").write_text("#EXTM3U\n#EXTINF:1,\n/etc/passwd.mp3\n")
    return folder


def test_a_folder_picked_on_the_music_page(
    server: Server, page: Page, tiny_mp3: Path, tmp_path: Path
) -> None:
    page.goto(f"{server.base_url}/#/music")
    expect(page.get_by_text("No songs yet.")).to_be_visible()

    page.locator("#song-folder").set_input_files(song_folder(tmp_path, tiny_mp3))

    uploads = page.get_by_test_id("uploads")
    expect(uploads.locator(".upload-done")).to_have_count(2)
    expect(uploads.locator(".upload-failed")).to_have_count(3)
    for name in ("cover.jpg", "notes.txt", "Fake.mp3"):
        expect(uploads.get_by_text(f"{name}: Skipped: {NOT_MP3}.")).to_be_visible()
    expect(page.get_by_test_id("songs").locator("li")).to_have_count(2)
    screenshot(page, "music-folder")


def test_the_original_pages_folder_upload(
    server: Server, page: Page, tiny_mp3: Path, tmp_path: Path
) -> None:
    page.goto(f"{server.base_url}/#/music")
    page.evaluate(
        """() => {
            const input = document.createElement('input');
            input.type = 'file';
            input.id = 'original-folder';
            input.webkitdirectory = true;
            document.body.append(input);
        }"""
    )
    page.locator("#original-folder").set_input_files(song_folder(tmp_path, tiny_mp3))

    answer = page.evaluate(ORIGINAL_UPLOAD_JS)

    assert 'filename="songs/Morning.mp3"' in answer["sent"]  # what Chromium sends for a folder
    assert answer["status"] == 200, answer
    assert answer["body"]["status"] == "success"
    assert answer["body"]["message"].startswith("Uploaded 2 song(s). Skipped Fake.mp3:")
    assert [file["name"] for file in answer["body"]["skipped"]] == ["Fake.mp3"]
    with server.api() as client:
        stored = sorted(song["name"] for song in client.get("/api/songs").json()["songs"])
    assert [name.rsplit("-", 1)[0] for name in stored] == ["evening", "morning"]
