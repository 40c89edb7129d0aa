"""Sizes as people read them, for every command's and report's output."""


def human_size(n: int) -> str:
    """1536 -> '1.5 KiB'; bytes below a KiB as a whole number."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
