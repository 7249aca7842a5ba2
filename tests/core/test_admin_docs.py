"""The user guide shows the admin a person will see: every screenshot exists and is used."""

from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_screenshot_is_in_the_user_guide_and_exists() -> None:
    guide = (DOCS / "user-guide.md").read_text()
    images = sorted(p.name for p in (DOCS / "img").glob("*.png"))
    assert len(images) >= 8
    for name in images:
        assert f"(img/{name})" in guide, name
        assert (DOCS / "img" / name).stat().st_size < 150_000, name  # small enough for a repository
