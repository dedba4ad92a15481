"""Files: explicit uploads, the plain-string guard, allowed_paths, downloads under safe names, the size cap."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from uploads import upstream_has

import compose
from compose import sweep
from compose.apps.processes import LocalSpace
from compose.files import new_download_path, safe_name, under_roots


@pytest.fixture(scope="module")
def media(urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> compose.Space:
    return compose.Space(urls["media"], download_dir=tmp_path_factory.mktemp("downloads"))


@pytest.fixture
def upstream_uploads(local_spaces: dict[str, LocalSpace]) -> Path:
    """The media app's own upload folder (its GRADIO_TEMP_DIR)."""
    return local_spaces["media"].temp_dir


def secret_file(folder: Path, name: str = "secret.txt") -> tuple[Path, bytes]:
    content = f"private-{uuid.uuid4().hex}".encode()
    path = folder / name
    path.write_bytes(content)
    return path, content


def red_png(path: Path, size: tuple[int, int] = (3, 2)) -> Path:
    image = pytest.importorskip("PIL.Image")
    image.new("RGB", size, (255, 0, 0)).save(path)
    return path


# --- uploads ---------------------------------------------------------------------------------------------------------


def test_explicit_file_is_uploaded_and_the_result_file_downloaded(media: compose.Space, tmp_path: Path,
                                                                   upstream_uploads: Path) -> None:
    path, content = secret_file(tmp_path, "notes.txt")
    report, summary = media.endpoint("/file_info").predict(compose.file(path))
    assert summary == f"notes.txt: {len(content)} bytes"
    # The file really went up: the upstream holds its bytes now.
    assert upstream_has(upstream_uploads, content)
    # The report file the app wrote came back as a local file, inside this Space's download folder.
    local = Path(report)
    assert local.is_file()
    assert media.download_dir.resolve() in local.resolve().parents
    assert local.read_text() == summary + "\n"


def test_file_accepts_pathlike_and_keyword(media: compose.Space, tmp_path: Path) -> None:
    path, content = secret_file(tmp_path, "data.bin")
    _, summary = media.endpoint("/file_info").predict(file=compose.file(Path(path)))
    assert summary == f"data.bin: {len(content)} bytes"


async def test_async_upload(media: compose.Space, tmp_path: Path) -> None:
    path, content = secret_file(tmp_path, "async.txt")
    _, summary = await media.endpoint("/file_info").call(compose.file(str(path)))
    assert summary == f"async.txt: {len(content)} bytes"


def test_image_in_and_out(media: compose.Space, tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    inverted, size = media.endpoint("/invert").predict(compose.file(red_png(tmp_path / "red.png", (5, 4))))
    assert size == "5x4"
    out = image.open(inverted).convert("RGB")
    assert out.size == (5, 4)
    r, g, b = out.getpixel((2, 2))
    # Red inverted is cyan (lossy formats may be off by a little).
    assert r < 20 and g > 235 and b > 235


def test_a_large_image_goes_up_and_comes_back_whole(media: compose.Space, tmp_path: Path) -> None:
    """Megabyte-sized bodies both ways (past the pool's read and write buffers) arrive complete."""
    image = pytest.importorskip("PIL.Image")
    stat = pytest.importorskip("PIL.ImageStat")
    noise = image.frombytes("RGB", (900, 900), os.urandom(900 * 900 * 3))  # incompressible: ~2.4 MB as PNG
    path = tmp_path / "noise.png"
    noise.save(path)
    assert path.stat().st_size > 2_000_000
    inverted, size = media.endpoint("/invert").predict(compose.file(path))
    assert size == "900x900"
    assert Path(inverted).stat().st_size > 300_000  # the answer is large too (noise does not compress)
    out = image.open(inverted).convert("RGB")
    out.load()  # a truncated file would fail to decode here
    assert out.size == (900, 900)
    # Inverted: each channel's mean is 255 minus the input's (lossy formats may be off by a little).
    for before, after in zip(stat.Stat(noise).mean, stat.Stat(out).mean, strict=True):
        assert abs(before + after - 255) < 4


def test_missing_or_non_regular_files_are_refused(media: compose.Space, tmp_path: Path) -> None:
    ep = media.endpoint("/file_info")
    with pytest.raises(compose.UnsafeInput):
        ep.predict(compose.file(tmp_path / "does-not-exist.txt"))
    with pytest.raises(compose.UnsafeInput):
        ep.predict(compose.file(tmp_path))  # a directory


def test_upload_size_cap(urls: dict[str, str], tmp_path: Path, upstream_uploads: Path) -> None:
    space = compose.Space(urls["media"], max_upload_bytes=16)
    path, content = secret_file(tmp_path, "big.txt")  # 40 bytes
    with pytest.raises(compose.UnsafeInput, match="limit"):
        space.endpoint("/file_info").predict(compose.file(path))
    assert not upstream_has(upstream_uploads, content)


def test_wrong_kind_of_value_for_a_file_parameter(media: compose.Space) -> None:
    with pytest.raises(compose.InvalidArguments) as e:
        media.endpoint("/file_info").predict(42)
    assert e.value.parameter == "file"


# --- the guard: a plain string is not permission to upload --------------------------------------------------------


def test_plain_string_path_is_refused_and_nothing_uploaded(media: compose.Space, tmp_path: Path,
                                                           upstream_uploads: Path) -> None:
    path, content = secret_file(tmp_path)
    with pytest.raises(compose.UnsafeInput) as e:
        media.endpoint("/file_info").predict(str(path))
    assert "compose.file" in str(e.value)
    with pytest.raises(compose.UnsafeInput):
        media.endpoint("/file_info").predict(file=os.fspath(path))
    with pytest.raises(compose.UnsafeInput):
        media.endpoint("/invert").predict(str(red_png(tmp_path / "plain.png")))
    assert not upstream_has(upstream_uploads, content)
    # The check above can see an upload when there is one: the same bytes, sent explicitly, do show up.
    media.endpoint("/file_info").predict(compose.file(path))
    assert upstream_has(upstream_uploads, content)


def test_well_known_local_paths_are_refused(media: compose.Space) -> None:
    for path in ("/etc/passwd", "~/.ssh/id_rsa", "../../etc/hostname"):
        with pytest.raises(compose.UnsafeInput):
            media.endpoint("/file_info").predict(path)


async def test_plain_string_refused_in_async_and_stream(media: compose.Space, tmp_path: Path,
                                                        upstream_uploads: Path) -> None:
    path, content = secret_file(tmp_path)
    with pytest.raises(compose.UnsafeInput):
        await media.endpoint("/file_info").call(str(path))
    with pytest.raises(compose.UnsafeInput):
        async for _ in media.endpoint("/file_info").stream(str(path)):
            pass
    job = media.endpoint("/file_info").submit(str(path))
    with pytest.raises(compose.UnsafeInput):
        job.result(timeout=10)
    assert not upstream_has(upstream_uploads, content)


def test_allowed_paths_permit_plain_strings_inside_only(urls: dict[str, str], tmp_path: Path,
                                                        upstream_uploads: Path) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    inside_file, inside_content = secret_file(allowed, "inside.txt")
    outside_file, outside_content = secret_file(outside, "outside.txt")
    space = compose.Space(urls["media"], allowed_paths=[allowed])
    ep = space.endpoint("/file_info")

    # Inside the allowed folder, a plain string is enough.
    assert ep.predict(str(inside_file))[1] == f"inside.txt: {len(inside_content)} bytes"
    assert upstream_has(upstream_uploads, inside_content)

    # Outside it, no; nor through a symlink inside that points out, nor through `..`.
    link = allowed / "link.txt"
    link.symlink_to(outside_file)
    for sneaky in (str(outside_file), str(link), str(allowed / ".." / "outside" / "outside.txt")):
        with pytest.raises(compose.UnsafeInput):
            ep.predict(sneaky)
    # A folder whose name merely starts with the allowed one's is not inside it.
    sibling = tmp_path / "allowed-not"
    sibling.mkdir()
    sibling_file, sibling_content = secret_file(sibling)
    with pytest.raises(compose.UnsafeInput):
        ep.predict(str(sibling_file))
    assert not upstream_has(upstream_uploads, outside_content)
    assert not upstream_has(upstream_uploads, sibling_content)


def test_under_roots(tmp_path: Path) -> None:
    root = (tmp_path / "root").resolve()
    root.mkdir()
    (root / "a").mkdir()
    assert under_roots(root / "a" / "f.txt", (root,))
    assert under_roots(root, (root,))
    assert not under_roots(root / ".." / "f.txt", (root,))
    assert not under_roots(tmp_path / "rootx" / "f.txt", (root,))
    assert not under_roots(root / "f.txt", ())
    (root / "escape").symlink_to(tmp_path)
    assert not under_roots(root / "escape" / "f.txt", (root,))


# --- downloads -------------------------------------------------------------------------------------------------------


def test_downloaded_files_get_a_safe_name_in_their_own_folder(media: compose.Space, tmp_path: Path) -> None:
    path, _ = secret_file(tmp_path, "we ird;name$(x).txt")
    first, _ = media.endpoint("/file_info").predict(compose.file(path))
    second, _ = media.endpoint("/file_info").predict(compose.file(path))
    for local in (Path(first), Path(second)):
        assert local.parent.parent == media.user_download_dir(None)  # this caller's own folder
        assert local.name.endswith(".report.txt")
        assert not set(local.name) & set(";$/\\")
    # The same remote name twice does not overwrite the first download.
    assert first != second and Path(first).is_file() and Path(second).is_file()


def test_download_size_cap_keeps_nothing(urls: dict[str, str], tmp_path: Path) -> None:
    downloads = tmp_path / "capped"
    space = compose.Space(urls["media"], download_dir=downloads, max_download_bytes=10)
    path, _ = secret_file(tmp_path)
    with pytest.raises(compose.SpaceError, match="10 bytes") as e:
        space.endpoint("/file_info").predict(compose.file(path))
    assert e.value.api_name == "/file_info"
    assert [p for p in downloads.rglob("*") if p.is_file()] == []
    # The same call under a roomier cap keeps the file.
    roomy = compose.Space(urls["media"], download_dir=downloads, max_download_bytes=1000)
    report, _ = roomy.endpoint("/file_info").predict(compose.file(path))
    assert Path(report).is_file()


def test_download_files_false_returns_the_remote_file_data(urls: dict[str, str], tmp_path: Path) -> None:
    downloads = tmp_path / "never"
    space = compose.Space(urls["media"], download_files=False, download_dir=downloads)
    path, content = secret_file(tmp_path, "raw.txt")
    report, summary = space.endpoint("/file_info").predict(compose.file(path))
    assert summary == f"raw.txt: {len(content)} bytes"
    assert isinstance(report, dict) and report["orig_name"] == "raw.txt.report.txt"
    assert report["url"].startswith(urls["media"])
    assert not downloads.exists() or not any(downloads.rglob("*"))


# --- the download folder's bounds (compose.sweep) ------------------------------------------------------------------


DAY = 86400.0


def own_space(urls: dict[str, str], cache: Path, monkeypatch: pytest.MonkeyPatch, **limits: Any) -> compose.Space:
    """A Space on the media app whose download folder is compose's own (no download_dir=), `cache`/downloads."""
    monkeypatch.setenv("COMPOSE_DOWNLOAD_DIR", str(cache / "downloads"))
    return compose.Space(urls["media"], limits=compose.Limits(**limits))


def fetch_report(space: compose.Space, tmp_path: Path) -> Path:
    """One real call whose result file compose downloads; waits for the sweep that download may have started."""
    path, _ = secret_file(tmp_path, f"in-{uuid.uuid4().hex[:6]}.txt")
    report, _ = space.endpoint("/file_info").predict(compose.file(path))
    thread = space.upstream.sweeper.thread
    if thread is not None:
        thread.join(20)
    return Path(report)


def age(path: Path, seconds: float) -> None:
    when = path.stat().st_mtime - seconds
    os.utime(path, (when, when))


def test_old_downloads_are_removed_from_composes_own_folder(urls: dict[str, str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    first = fetch_report(own_space(urls, tmp_path / "cache", monkeypatch), tmp_path)
    assert (tmp_path / "cache" / "downloads") in first.parents
    age(first, 2 * DAY)
    # A later process (a new Space object on the same folder) sweeps at its first download, in the background.
    again = own_space(urls, tmp_path / "cache", monkeypatch)
    second = fetch_report(again, tmp_path)
    assert again.upstream.sweeper.thread is not None  # the download started the pass fetch_report waited for
    assert not first.exists() and not first.parent.exists()  # the file and its own folder
    assert second.is_file() and first.parent.parent.is_dir()  # the fresh result stays; the user's folder too
    # The next download within a minute starts no second pass (no directory walk per call).
    thread = again.upstream.sweeper.thread
    fetch_report(again, tmp_path)
    assert again.upstream.sweeper.thread is thread


def test_past_the_disk_cap_the_oldest_downloads_go_but_not_a_fresh_one(urls: dict[str, str], tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    probe = fetch_report(own_space(urls, tmp_path / "probe", monkeypatch), tmp_path)
    size = probe.stat().st_size
    space = own_space(urls, tmp_path / "cache", monkeypatch, max_download_disk=2 * size)
    oldest, older, fresh = (fetch_report(space, tmp_path) for _ in range(3))
    assert {p.stat().st_size for p in (oldest, older, fresh)} == {size}
    age(oldest, 3600)
    age(older, 1800)
    swept = space.upstream.sweeper.sweep()
    assert (swept.aged, swept.over_cap, swept.kept_bytes) == (0, 1, 2 * size)
    assert not oldest.exists() and older.is_file() and fresh.is_file()
    # A cap smaller than one file: the older goes, the one just handed out stays (within compose.sweep.GRACE).
    tiny = own_space(urls, tmp_path / "cache", monkeypatch, max_download_disk=1)
    swept = tiny.upstream.sweeper.sweep()
    assert (swept.over_cap, swept.kept_bytes) == (1, size)
    assert not older.exists() and fresh.is_file()
    # Once it is past its grace it goes too.
    assert tiny.upstream.sweeper.sweep(now=fresh.stat().st_mtime + sweep.GRACE + 1).over_cap == 1
    assert not fresh.exists()


def test_a_download_dir_you_gave_is_never_swept(urls: dict[str, str], tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    space = compose.Space(urls["media"], download_dir=mine,
                          limits=compose.Limits(max_download_disk=1, download_max_age=0.001))
    report = fetch_report(space, tmp_path)
    age(report, 2 * DAY)
    assert space.upstream.sweeper.thread is None  # no pass was started
    assert space.upstream.sweeper.sweep() == sweep.Swept(0, 0, 0)
    assert report.is_file() and report.read_text().startswith("in-")


def test_the_download_folder_limits_are_checked() -> None:
    for bad in ({"max_download_disk": 0}, {"download_max_age": 0}, {"download_max_age": -1.0}):
        with pytest.raises(compose.ConfigError, match=next(iter(bad))):
            compose.Limits(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "remote",
    ["../../etc/passwd", "/abs/x", "..", ".", "", None, "..\\..\\windows\\win.ini", ".bashrc", "a/b/../c",
     "x" * 500 + ".txt", "nul\x00byte", "line\nbreak", "~", "../", "/", "semi;colon|pipe>.txt", "ü n i.txt",
     " .bashrc", ". .profile", ". ..", " "],
)
def test_safe_name_never_escapes(remote: str | None, tmp_path: Path) -> None:
    name = safe_name(remote)
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name and "\n" not in name
    assert not name.startswith(".")
    assert len(name.encode()) <= 255
    root = tmp_path.resolve()
    assert (root / name).resolve().parent == root
    # A real file can be made under that name, inside the folder.
    (root / name).write_text("ok")
    assert (root / name).is_file()


def test_safe_name_keeps_ordinary_names() -> None:
    assert safe_name("report.txt") == "report.txt"
    assert safe_name("/tmp/gradio/abc123/image.webp") == "image.webp"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\photo.png") == "photo.png"


def test_new_download_path_never_collides(tmp_path: Path) -> None:
    paths = {new_download_path(tmp_path, "../same.txt") for _ in range(20)}
    assert len(paths) == 20
    assert all(p.name == "same.txt" and p.parent.parent == tmp_path for p in paths)


def test_a_file_shaped_dict_is_not_permission_to_upload(urls: dict[str, str], upstream_uploads: Path,
                                                        tmp_path: Path) -> None:
    from gradio_client import handle_file

    path, content = secret_file(tmp_path)
    space = compose.Space(urls["media"])
    # What a model's JSON or a remote's output could hold: a FileData dict naming a local file.
    with pytest.raises(compose.UnsafeInput, match="allowed_paths"):
        space.endpoint("/file_info").predict(handle_file(str(path)))
    assert not upstream_has(upstream_uploads, content)
    # Under the Space's allowed_paths, or wrapped in compose.file(), it is the developer's say-so, and it goes.
    allowed = compose.Space(urls["media"], allowed_paths=[tmp_path])
    _, summary = allowed.endpoint("/file_info").predict(handle_file(str(path)))
    assert summary == f"secret.txt: {len(content)} bytes"


@pytest.mark.parametrize("path", ["/tmp/ok.txt\x00/../../etc/passwd", "\x00"])
def test_a_nul_byte_in_a_file_path_is_unsafe_input_and_nothing_is_sent(media: compose.Space, path: str,
                                                                       upstream_uploads: Path) -> None:
    before = set(upstream_uploads.rglob("*"))
    with pytest.raises(compose.UnsafeInput, match="NUL byte"):  # not Python's bare ValueError
        media.endpoint("/file_info").predict(compose.file(path))
    assert set(upstream_uploads.rglob("*")) == before
