"""The start command of a service's image, read from its Dockerfile rather than guessed per service.

``dockerfile-parse`` splits the file into instructions (continuations, comments, parser
directives); of the last build stage we keep ENTRYPOINT, CMD (exec form as given, shell form
as ``/bin/sh -c``, as Docker runs it), the first EXPOSEd port, WORKDIR and ENV. The Dockerfile
belongs to the repository under repair: it is only parsed, never built or run on the host.
"""

from __future__ import annotations

import io
import json
import posixpath
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from crew.errors import BadInputError

MAX_DOCKERFILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class ImageConfig:
    """What the image would run: entrypoint, cmd, workdir, exposed port and environment."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = "/"
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)


def _exec_form(value: str) -> tuple[str, ...]:
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
            return tuple(parsed)
    return ("/bin/sh", "-c", text) if text else ()


def read_image_config(dockerfile: Path) -> ImageConfig:
    """The ``ImageConfig`` of the last stage of ``dockerfile``; an empty one when there is no file."""
    from dockerfile_parse import DockerfileParser

    if not dockerfile.is_file() or dockerfile.is_symlink():
        return ImageConfig()
    data = dockerfile.read_bytes()
    if len(data) > MAX_DOCKERFILE_BYTES:
        raise BadInputError(f"{dockerfile.name} is larger than {MAX_DOCKERFILE_BYTES} bytes")
    try:
        structure = DockerfileParser(fileobj=io.BytesIO(data), env_replace=False).structure
    except Exception as exc:  # the parser raises plain exceptions on malformed input
        raise BadInputError(f"{dockerfile.name} does not parse: {str(exc).splitlines()[0][:200]}") from None
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir, port = "/", None
    env: dict[str, str] = {}
    for item in structure:
        instruction, value = item["instruction"].upper(), item["value"]
        if instruction == "FROM":  # a new stage starts from scratch (its base's settings are unknown here)
            entrypoint, cmd, workdir, port, env = (), (), "/", None, {}
        elif instruction == "ENTRYPOINT":
            entrypoint, cmd = _exec_form(value), ()  # Docker resets CMD when ENTRYPOINT is set
        elif instruction == "CMD":
            cmd = _exec_form(value)
        elif instruction == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, value.strip()))
        elif instruction == "EXPOSE" and port is None:
            first = value.split()[0].split("/")[0] if value.split() else ""
            port = int(first) if first.isdigit() and 0 < int(first) < 65536 else None
        elif instruction == "ENV":
            env.update(_env_pairs(value))
    return ImageConfig(entrypoint=entrypoint, cmd=cmd, workdir=workdir, port=port, env=env)


def _env_pairs(value: str) -> dict[str, str]:
    try:
        words = shlex.split(value)
    except ValueError:
        return {}
    if words and "=" not in words[0]:  # legacy form: ENV NAME value with spaces
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words if "=" in w)
