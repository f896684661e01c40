"""The image catalog: definitions, the images.toml round trip, conflicts, bad files, races."""

from __future__ import annotations

import multiprocessing
import os
import shlex
import threading
import tomllib
from multiprocessing import synchronize
from pathlib import Path

import pytest

from batchform.config import Settings
from batchform.errors import StorageError, ValidationError
from batchform.models.images import (
    CommandImage,
    ImageCatalog,
    UrlImage,
    unknown_image_hint,
)

TRICKY = [
    'say "hi"',
    "back\\slash\\",
    "\\u0041 is not A",
    "'''",
    '"""',
    "# not a comment",
    "[images.x]",
    "é ü 中文 😀",
    "tab\tnewline\ncr\rbell\x07esc\x1bdel\x7f",
    "\b\f\x1f",
    "",
]


@pytest.fixture
def catalog(tmp_path: Path) -> ImageCatalog:
    return ImageCatalog(tmp_path / "home" / "images.toml")


def reopened(catalog: ImageCatalog) -> ImageCatalog:
    """A fresh catalog on the same file, so nothing can come from memory."""
    return ImageCatalog(catalog.path)


def test_a_missing_file_is_an_empty_catalog(catalog: ImageCatalog) -> None:
    assert catalog.all() == []
    assert catalog.get("anything") is None
    assert not catalog.path.parent.exists()  # reading creates nothing


def test_for_settings_uses_images_toml_in_home(tmp_path: Path) -> None:
    catalog = ImageCatalog.for_settings(Settings(home=tmp_path))
    assert catalog.path == tmp_path / "images.toml"


def test_round_trip_of_both_kinds(catalog: ImageCatalog) -> None:
    command = CommandImage(
        "my-registry/churn-model:3",
        ("python", "-m", "serve", "--workers", "2"),
        ping_deadline_s=45.5,
        environment={"THREADS": "4", "MODE": "batch"},
    )
    url = UrlImage("scorer", "http://127.0.0.1:8080")
    catalog.add(command)
    catalog.add(url)
    again = reopened(catalog)
    assert again.get("my-registry/churn-model:3") == command
    assert again.get("scorer") == url
    assert again.all() == [command, url]


def test_the_file_follows_the_documented_schema(catalog: ImageCatalog) -> None:
    catalog.add(CommandImage("a:1", ("serve",), environment={"K": "v"}))
    catalog.add(UrlImage("b", "https://models.internal:8443/churn"))
    document = tomllib.loads(catalog.path.read_text(encoding="utf-8"))
    assert document == {
        "images": {
            "a:1": {
                "kind": "command",
                "command": ["serve"],
                "ping_deadline_s": 300.0,
                "environment": {"K": "v"},
            },
            "b": {"kind": "url", "url": "https://models.internal:8443/churn"},
        }
    }


@pytest.mark.parametrize("text", TRICKY)
def test_strings_round_trip_exactly(catalog: ImageCatalog, text: str) -> None:
    image = CommandImage(
        'quote"back\\slash/é:😀',
        ("run", text),
        environment={f"KEY{text}".replace("=", ""): text},
    )
    catalog.add(image)
    assert reopened(catalog).get(image.name) == image


def test_every_tricky_string_round_trips_in_one_file(catalog: ImageCatalog) -> None:
    images = [
        CommandImage(f"img-{index}", ("run", text), environment={"V": text})
        for index, text in enumerate(TRICKY)
    ]
    for image in images:
        catalog.add(image)
    assert reopened(catalog).all() == sorted(images, key=lambda image: image.name)


def test_hand_written_file_with_defaults_and_integer_deadline(catalog: ImageCatalog) -> None:
    catalog.path.parent.mkdir(parents=True)
    catalog.path.write_text(
        "[images.plain]\n"
        'kind = "command"\n'
        "command = ['serve', 'C:\\path']\n"
        "\n"
        '[images."slow"]\n'
        'kind = "command"\n'
        'command = ["serve"]\n'
        "ping_deadline_s = 600\n",
        encoding="utf-8",
    )
    assert catalog.get("plain") == CommandImage("plain", ("serve", "C:\\path"), 300.0, {})
    slow = catalog.get("slow")
    assert isinstance(slow, CommandImage)
    assert slow.ping_deadline_s == 600.0
    assert isinstance(slow.ping_deadline_s, float)


def test_all_is_sorted_by_name(catalog: ImageCatalog) -> None:
    for name in ["zeta", "alpha", "mid/x:1"]:
        catalog.add(UrlImage(name, "http://localhost:1"))
    assert [image.name for image in catalog.all()] == ["alpha", "mid/x:1", "zeta"]


def test_adding_a_taken_name_needs_replace(catalog: ImageCatalog) -> None:
    first = CommandImage("m", ("one",))
    catalog.add(first)
    before = catalog.path.read_bytes()
    with pytest.raises(ValidationError, match=r"'m' is already registered.*--replace"):
        catalog.add(UrlImage("m", "http://localhost:9"))
    assert catalog.path.read_bytes() == before
    second = UrlImage("m", "http://localhost:9")
    catalog.add(second, replace=True)
    assert reopened(catalog).all() == [second]


def test_remove(catalog: ImageCatalog) -> None:
    catalog.add(CommandImage("keep", ("k",)))
    catalog.add(CommandImage("drop", ("d",)))
    catalog.remove("drop")
    assert [image.name for image in reopened(catalog).all()] == ["keep"]
    with pytest.raises(ValidationError, match=r"'drop' is not registered in .*images\.toml"):
        catalog.remove("drop")


def test_removing_from_a_missing_file_is_a_validation_error(catalog: ImageCatalog) -> None:
    with pytest.raises(ValidationError, match="'ghost' is not registered"):
        catalog.remove("ghost")


def test_environment_is_copied_from_the_callers_dict() -> None:
    environment = {"A": "1"}
    image = CommandImage("x", ("serve",), environment=environment)
    environment["B"] = "2"
    assert image.environment == {"A": "1"}


def test_command_lists_become_tuples() -> None:
    image = CommandImage("x", ["serve", "--fast"])  # type: ignore[arg-type]
    assert image.command == ("serve", "--fast")


@pytest.mark.parametrize(
    "name", ["", "has space", "tab\there", "new\nline", "x" * 256, "nul\0", "lone\udc80"]
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValidationError, match="Image name"):
        UrlImage(name, "http://localhost:8080")


def test_longest_name_is_accepted() -> None:
    assert UrlImage("x" * 255, "http://localhost:8080").name == "x" * 255


@pytest.mark.parametrize(
    ("command", "deadline_s", "environment", "message"),
    [
        ((), 300.0, {}, "command must not be empty"),
        (("",), 300.0, {}, "command must not be empty"),
        (("serve", "a\0b"), 300.0, {}, "NUL"),
        (("serve", "\udc80"), 300.0, {}, "not valid Unicode"),
        (("serve",), 0.0, {}, "ping_deadline_s must be a positive"),
        (("serve",), -1.0, {}, "ping_deadline_s must be a positive"),
        (("serve",), float("inf"), {}, "ping_deadline_s must be a positive"),
        (("serve",), float("nan"), {}, "ping_deadline_s must be a positive"),
        (("serve",), 1.0, {"": "v"}, "environment variable name"),
        (("serve",), 1.0, {"A=B": "v"}, "environment variable name"),
        (("serve",), 1.0, {"A": "v\0"}, "NUL"),
    ],
)
def test_invalid_command_images(
    command: tuple[str, ...], deadline_s: float, environment: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        CommandImage("img", command, deadline_s, environment)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "https://models.example.com",
        "http://[::1]:9000/prefix",
        "HTTP://LOCALHOST:80/",
    ],
)
def test_valid_urls(url: str) -> None:
    assert UrlImage("u", url).url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("127.0.0.1:8080", "not an http"),
        ("ftp://host/x", "not an http"),
        ("http://", "no host"),
        ("http:///ping", "no host"),
        ("http://host:99999", "invalid port"),
        ("http://host:port", "invalid port"),
        ("http://host/?a=1", "query or fragment"),
        ("http://host/#top", "query or fragment"),
        ("http://host/ x", "whitespace"),
        ("", "not an http"),
    ],
)
def test_invalid_urls(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        UrlImage("u", url)


def write(catalog: ImageCatalog, content: str | bytes) -> None:
    catalog.path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    catalog.path.write_bytes(data)


def test_toml_syntax_error_names_the_file_and_the_line(catalog: ImageCatalog) -> None:
    write(catalog, '[images."a"]\nkind = "url"\nurl = "http://x\n')
    with pytest.raises(ValidationError) as caught:
        catalog.all()
    assert str(catalog.path) in caught.value.message
    assert "line 3" in caught.value.message


def test_non_utf8_file_is_a_validation_error(catalog: ImageCatalog) -> None:
    write(catalog, b'[images."a"]\nkind = "url"\nurl = "http://\xff"\n')
    with pytest.raises(ValidationError, match="not valid UTF-8") as caught:
        catalog.get("a")
    assert str(catalog.path) in caught.value.message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("images = 3\n", "'images' must be a table"),
        ("version = 1\n", "unknown top-level keys \\['version'\\]"),
        ("[images]\na = 1\n", "'a': must be a table"),
        ('[images.a]\nkind = "docker"\n', "kind must be"),
        ("[images.a]\nurl = 'http://x'\n", "kind must be"),
        ('[images.a]\nkind = "url"\n', "url must be a str"),
        ('[images.a]\nkind = "url"\nurl = "http://x"\ncommand = ["x"]\n', "unknown keys"),
        ('[images.a]\nkind = "command"\ncomand = ["x"]\n', "unknown keys \\['comand'\\]"),
        ('[images.a]\nkind = "command"\ncommand = "serve"\n', "command must be a list"),
        ('[images.a]\nkind = "command"\ncommand = ["serve", 1]\n', "array of strings"),
        ('[images.a]\nkind = "command"\ncommand = []\n', "command must not be empty"),
        (
            '[images.a]\nkind = "command"\ncommand = ["s"]\nping_deadline_s = "60"\n',
            "ping_deadline_s must be a number",
        ),
        (
            '[images.a]\nkind = "command"\ncommand = ["s"]\nping_deadline_s = true\n',
            "ping_deadline_s must be a number",
        ),
        (
            '[images.a]\nkind = "command"\ncommand = ["s"]\nping_deadline_s = -5\n',
            "ping_deadline_s must be a positive",
        ),
        (
            '[images.a]\nkind = "command"\ncommand = ["s"]\n[images.a.environment]\nN = 1\n',
            "environment must be a table of strings",
        ),
        ('[images.a]\nkind = "url"\nurl = "file:///tmp/x"\n', "not an http"),
        ('[images."two words"]\nkind = "url"\nurl = "http://x"\n', "without whitespace"),
    ],
)
def test_malformed_content_names_the_file_and_the_problem(
    catalog: ImageCatalog, content: str, problem: str
) -> None:
    write(catalog, content)
    with pytest.raises(ValidationError, match=problem) as caught:
        catalog.all()
    assert caught.value.message.startswith(f"{catalog.path}: ")


def test_a_malformed_file_is_not_overwritten_by_add(catalog: ImageCatalog) -> None:
    write(catalog, "[images.a\n")
    with pytest.raises(ValidationError, match="not valid TOML"):
        catalog.add(UrlImage("b", "http://localhost:1"))
    assert catalog.path.read_text(encoding="utf-8") == "[images.a\n"


def test_writes_leave_only_the_catalog_and_its_lock(catalog: ImageCatalog) -> None:
    catalog.add(CommandImage("a", ("x",)))
    catalog.add(UrlImage("b", "http://localhost:1"))
    catalog.remove("a")
    assert sorted(path.name for path in catalog.path.parent.iterdir()) == [
        "images.toml",
        "images.toml.lock",
    ]


def test_a_failed_write_keeps_the_old_file(
    catalog: ImageCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.add(UrlImage("a", "http://localhost:1"))
    before = catalog.path.read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(StorageError, match="No space left on device"):
        catalog.add(UrlImage("b", "http://localhost:2"))
    monkeypatch.undo()
    assert catalog.path.read_bytes() == before
    assert sorted(path.name for path in catalog.path.parent.iterdir()) == [
        "images.toml",
        "images.toml.lock",
    ]


def test_the_file_is_private_to_its_owner(catalog: ImageCatalog) -> None:
    # Environment values may be credentials.
    catalog.add(CommandImage("a", ("x",), environment={"TOKEN": "secret"}))
    assert catalog.path.stat().st_mode & 0o077 == 0


def _add_many(
    path: Path, prefix: str, count: int, start: threading.Barrier | synchronize.Barrier
) -> None:
    catalog = ImageCatalog(path)
    start.wait()
    for index in range(count):
        catalog.add(CommandImage(f"{prefix}-{index}", ("serve", str(index))))


def test_concurrent_adds_from_threads_lose_nothing(catalog: ImageCatalog) -> None:
    threads_n, per_thread = 8, 15
    start = threading.Barrier(threads_n)
    threads = [
        threading.Thread(target=_add_many, args=(catalog.path, f"t{n}", per_thread, start))
        for n in range(threads_n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(catalog.all()) == threads_n * per_thread


def test_concurrent_adds_from_processes_lose_nothing(catalog: ImageCatalog) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    processes = [
        context.Process(target=_add_many, args=(catalog.path, prefix, 30, start))
        for prefix in ("p", "q")
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0]
    names = {image.name for image in catalog.all()}
    assert names == {f"{prefix}-{index}" for prefix in ("p", "q") for index in range(30)}


@pytest.mark.parametrize("image", ["my-registry/churn-model:3", "it's$HOME`x`", "a;rm"])
def test_unknown_image_hint_is_a_copyable_command(image: str) -> None:
    hint = unknown_image_hint(image)
    assert hint.startswith("Register it with: batchform images add ")
    first = hint.removeprefix("Register it with: ").split(" (a process", 1)[0]
    argv = shlex.split(first)
    assert argv[:4] == ["batchform", "images", "add", image]
    assert argv[4] == "--command"
    assert "$SAGEMAKER_BIND_TO_PORT" in argv[5]
    second = hint.split("or: ", 1)[1].split(" (a server", 1)[0]
    assert shlex.split(second) == ["batchform", "images", "add", image, "--url", "http://host:port"]
