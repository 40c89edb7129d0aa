"""Registry-like content: CSV and JSON record files, and partly random binary files.

Every function takes its own seeded ``random.Random`` (or a key), so each file is a pure function of
(seed, its index) and files can be written by several processes in any order.
"""

import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3

from bench import names

RECORD_KINDS = ("population", "payments", "vehicles", "land")
_DAY0 = dt.date(1940, 1, 1).toordinal()
MiB = 1024 * 1024
VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def date(rng: random.Random, first_year: int = 1940, last_year: int = 2024) -> str:
    start = dt.date(first_year, 1, 1).toordinal()
    return dt.date.fromordinal(start + rng.randrange((last_year - first_year + 1) * 365)).isoformat()


def timestamp(rng: random.Random, first_year: int = 2015, last_year: int = 2024) -> str:
    return (
        f"{date(rng, first_year, last_year)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
    )


def national_id(rng: random.Random, birth: str) -> str:
    """A 12-digit IIN-like id: YYMMDD of birth, then six digits."""
    return f"{birth[2:4]}{birth[5:7]}{birth[8:10]}{rng.randrange(10**6):06d}"


def person(rng: random.Random) -> dict[str, str]:
    female = rng.random() < 0.5
    sur_lat, sur_cyr = rng.choice(names.SURNAMES)
    giv_lat, giv_cyr = rng.choice(names.FEMALE_NAMES if female else names.MALE_NAMES)
    pat_lat, pat_cyr = rng.choice(names.MALE_NAMES)
    if female and sur_lat.endswith(("ov", "ev", "in")):
        sur_lat, sur_cyr = sur_lat + "a", sur_cyr + "а"
    birth = date(rng)
    return {
        "national_id": national_id(rng, birth),
        "surname": sur_lat,
        "given_name": giv_lat,
        "patronymic": pat_lat + ("ovna" if female else "ovich"),
        "name_cyr": f"{sur_cyr} {giv_cyr} {pat_cyr}{'овна' if female else 'ович'}",
        "birth_date": birth,
        "birth_place": rng.choice(names.CITIES),
        "gender": "F" if female else "M",
        "address": address(rng),
        "phone": f"+7 7{rng.randrange(10, 80)} {rng.randrange(1000000):07d}",
        "status": rng.choice(names.STATUSES),
        "updated_at": timestamp(rng),
    }


def address(rng: random.Random) -> str:
    return (
        f"{rng.choice(names.CITIES)}, {rng.choice(names.STREETS)} {rng.randrange(1, 300)}, apt {rng.randrange(1, 200)}"
    )


def amount(rng: random.Random, scale: int = 500_000) -> str:
    """Tenge with tiyn, e.g. 84213.50: amounts are what registries are full of."""
    return f"{rng.randrange(scale * 100) / 100:.2f}"


def iban(rng: random.Random) -> str:
    return f"KZ{rng.randrange(100):02d}{rng.choice(('722C', '601A', '998B', '856D'))}{rng.randrange(10**12):012d}"


# -- one row / record per kind ------------------------------------------------------------------


def population_row(rng: random.Random, n: int) -> str:
    p = person(rng)
    return (
        f'{n},{p["national_id"]},{p["surname"]},{p["given_name"]},{p["patronymic"]},"{p["name_cyr"]}",'
        f'{p["birth_date"]},{p["birth_place"]},{p["gender"]},"{p["address"]}",{p["phone"]},{p["status"]},'
        f"{p['updated_at']}\n"
    )


def payments_row(rng: random.Random, n: int) -> str:
    return (
        f"{n},{national_id(rng, date(rng))},{date(rng, 2018, 2024)},{amount(rng)},KZT,{iban(rng)},"
        f"{rng.choice(names.PURPOSES)},{rng.choice(('paid', 'paid', 'paid', 'returned', 'pending'))}\n"
    )


def vehicle_record(rng: random.Random, n: int) -> dict[str, object]:
    make, models = rng.choice(names.MAKES)
    p = person(rng)
    return {
        "id": n,
        "vin": "".join(rng.choices(VIN_ALPHABET, k=17)),
        "plate": f"{rng.randrange(1000):03d} {rng.choice('ABCEHKMOPTXY')}{rng.choice('ABCEHKMOPTXY')} {rng.randrange(1, 20):02d}",
        "make": make,
        "model": rng.choice(models),
        "year": rng.randrange(1995, 2025),
        "owner": {
            "national_id": p["national_id"],
            "name": f"{p['surname']} {p['given_name']}",
            "address": p["address"],
        },
        "registered": date(rng, 2000, 2024),
        "inspections": [
            {"date": date(rng, 2015, 2024), "result": rng.choice(names.INSPECTION_RESULTS)}
            for _ in range(rng.randrange(0, 4))
        ],
    }


def land_record(rng: random.Random, n: int) -> dict[str, object]:
    return {
        "cadastral_no": f"{rng.randrange(1, 20):02d}-{rng.randrange(1000):03d}-{rng.randrange(100000):05d}-{n}",
        "region": rng.choice(names.CITIES),
        "use": rng.choice(names.LAND_USES),
        "area_m2": rng.randrange(200, 2_000_000),
        "valuation": amount(rng, 90_000_000),
        "owners": [
            {"national_id": national_id(rng, date(rng)), "share": f"1/{k}"}
            for k in [rng.randrange(1, 4)] * rng.randrange(1, 3)
        ],
        "history": [
            {"date": date(rng, 1995, 2024), "event": rng.choice(("sale", "inheritance", "gift", "partition"))}
            for _ in range(rng.randrange(1, 4))
        ],
    }


CSV_HEADERS = {
    "population": "id,national_id,surname,given_name,patronymic,name_cyr,birth_date,birth_place,gender,address,phone,status,updated_at\n",
    "payments": "payment_id,national_id,date,amount,currency,account,purpose,state\n",
}
CSV_ROWS: dict[str, Callable[[random.Random, int], str]] = {"population": population_row, "payments": payments_row}
JSON_RECORDS: dict[str, Callable[[random.Random, int], dict[str, object]]] = {
    "vehicles": vehicle_record,
    "land": land_record,
}


def record_suffix(kind: str) -> str:
    return ".csv" if kind in CSV_ROWS else ".json"


def record_chunks(kind: str, rng: random.Random, size: int, first_id: int = 1) -> Iterator[bytes]:
    """The encoded pieces of a record file of about ``size`` bytes (whole rows; may end a row over)."""
    written = 0
    n = first_id
    if kind in CSV_ROWS:
        head = CSV_HEADERS[kind].encode()
        yield head
        written += len(head)
        make_row = CSV_ROWS[kind]
        while written < size:
            row = make_row(rng, n).encode()
            written += len(row)
            n += 1
            yield row
        return
    make_rec = JSON_RECORDS[kind]
    yield b"[\n"
    written = 2
    while True:
        rec = json.dumps(make_rec(rng, n), ensure_ascii=False).encode()
        n += 1
        written += len(rec) + 2
        if written >= size - 2:
            yield rec + b"\n]\n"
            return
        yield rec + b",\n"


def write_record_file(path: Path, kind: str, seed: str, size: int) -> int:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(record_chunks(kind, rng, size))
    path.write_bytes(data)
    return len(data)


# -- binary files: half random, half repetitive --------------------------------------------------


def random_bytes(key: str, length: int, offset: int = 0) -> bytes:
    """Deterministic, incompressible bytes: the BLAKE3 output stream keyed by ``key``."""
    return blake3.blake3(key.encode()).digest(length=length, seek=offset)


def compressible_block(rng: random.Random, length: int) -> bytes:
    """Scanner-log-like structured text with counters: zstd compresses it ~10x."""
    out: list[bytes] = []
    total = 0
    line_no = rng.randrange(10**6)
    device = f"scanner-{rng.randrange(100):02d}"
    while total < length:
        line = (
            f"{line_no:09d} {device} page={line_no % 400:03d} dpi=300 depth=8 status=OK "
            f"checksum={line_no * 2654435761 % 2**32:08x} " + "." * (line_no % 23) + "\n"
        ).encode()
        out.append(line)
        total += len(line)
        line_no += 1
    return b"".join(out)[:length]


def write_binary_file(path: Path, seed: str, size: int, block: int = MiB) -> int:
    """Blocks of 1 MiB, about half of them random (archives, scans), the rest repetitive."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        offset = 0
        while offset < size:
            n = min(block, size - offset)
            if rng.random() < 0.5:
                f.write(random_bytes(seed, n, offset))
            else:
                f.write(compressible_block(rng, n))
            offset += n
    return size
