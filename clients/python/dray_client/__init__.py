"""A client of Dray's REST API, with nothing but the standard library.

    from dray_client import Client
    dray = Client("http://127.0.0.1:3000")
    job = dray.submit({"steps": [{"source": "dray/randword"}, {"source": "dray/upper"}]})
    for line in dray.follow(job["id"]):
        print(line["text"])
    print(dray.wait(job["id"])["status"])
"""

from .client import Client
from .errors import (
    BadRequest,
    Conflict,
    DrayError,
    Forbidden,
    Gone,
    NotFound,
    ServerError,
    TooLarge,
    Unauthorized,
    Unprocessable,
    Unreachable,
)

__all__ = [
    "Client",
    "DrayError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "Gone",
    "TooLarge",
    "Unprocessable",
    "ServerError",
    "Unreachable",
]
