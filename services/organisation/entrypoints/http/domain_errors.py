"""Turn the domain's errors into HTTP answers: not found 404, conflict 409, invalid 422."""

from services.organisation.domain.errors import Conflict, DomainError, NotFound
from services.runtime.http.errors import ApiError, field_errors_from_pydantic


def api_error_for(error: DomainError) -> ApiError:
    """Return the HTTP error answering a domain error; its fields are located in the body."""
    fields = field_errors_from_pydantic(error.problems, prefix=("body",))
    return ApiError(_status(error), error.code, error.message, fields=fields)


def _status(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    return 422
