from django.http import HttpRequest

from dedupe.audit import role_of


def role(request: HttpRequest) -> dict:
    """The signed-in user's role, shown in the header of every page."""
    user = getattr(request, "user", None)
    return {"role": role_of(user) if user is not None and user.is_authenticated else ""}
