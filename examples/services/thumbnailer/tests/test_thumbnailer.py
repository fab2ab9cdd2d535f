from pathlib import Path

from thumbnailer.images import Image, read_pgm, thumbnail
from thumbnailer.worker import claim_batch, process_batch


def gradient(width: int, height: int) -> Image:
    return Image(width, height, bytes((x + y) % 256 for y in range(height) for x in range(width)))


def test_pgm_round_trip() -> None:
    image = gradient(7, 5)
    assert read_pgm(image.to_pgm()) == image


def test_thumbnail_fits_the_box() -> None:
    small = thumbnail(gradient(640, 480), 160)
    assert (small.width, small.height) == (160, 120)


def test_small_images_are_kept() -> None:
    assert thumbnail(gradient(10, 10), 320).width == 10


def test_batch_is_bounded_and_processed(tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    for n in range(5):
        (inbox / f"{n}.pgm").write_bytes(gradient(40, 30).to_pgm())
    batch = claim_batch(inbox, 3)
    assert len(batch) == 3
    assert process_batch(batch, outbox, 20) == 3
    assert len(list(outbox.iterdir())) == 3 and len(list(inbox.iterdir())) == 2
