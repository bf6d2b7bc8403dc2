"""The API's errors as exceptions: each carries the status, the server's message and its
problems (one per field at fault)."""


class DrayError(Exception):
    """An answer of 400 or more: `status`, `message` (the API's `error`) and `problems`."""

    def __init__(self, status, message, problems=None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.problems = problems or [message]


class BadRequest(DrayError):
    """400: the job or a parameter is wrong; `problems` names each field."""


class Unauthorized(DrayError):
    """401: no token, or not the server's."""


class Forbidden(DrayError):
    """403."""


class NotFound(DrayError):
    """404: no such job (or route)."""


class Conflict(DrayError):
    """409: the job is not where the request needs it (cancel an ended job, resume a running one)."""


class Gone(DrayError):
    """410: kept for a while, and no longer (an output past --keep-outputs)."""


class TooLarge(DrayError):
    """413: the job is larger than the server's --max-body-bytes."""


class Unprocessable(DrayError):
    """422: an Idempotency-Key sent before with another job."""


class ServerError(DrayError):
    """5xx: the server or its store failed; the request may be retried."""


class Unreachable(DrayError):
    """The server could not be reached at all."""

    def __init__(self, message):
        super().__init__(0, message)


_BY_STATUS = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: TooLarge,
    422: Unprocessable,
}


def error_for(status, message, problems=None):
    """The exception for an answer of `status`."""
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else DrayError)
    return kind(status, message, problems)
