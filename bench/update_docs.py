"""Copy the latest bench/results/*.md tables into docs/benchmarks.md ("## Latest results").

    python bench/update_docs.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench" / "results"
HEADING = "## Latest results"
ORDER = ["summary", "summary-100M", "models", "startup"]


def demoted(markdown: str) -> str:
    """Turn the result file's "# Title" into "### Title" so it nests under the section."""
    return "\n".join("##" + line if line.startswith("# ") else line for line in markdown.splitlines())


def main() -> None:
    text = DOC.read_text()
    head = text.split(HEADING)[0].rstrip() + "\n\n" + HEADING + "\n\n"
    files = sorted(RESULTS.glob("*.md"), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem))
    body = "\n\n".join(f"Source: `bench/results/{p.name}`.\n\n" + demoted(p.read_text()) for p in files)
    DOC.write_text(head + body.rstrip() + "\n")
    print(f"{DOC}: {len(files)} result file(s)")


if __name__ == "__main__":
    main()
