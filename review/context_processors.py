from django.http import HttpRequest

from dedupe.roles import capabilities, role_of


def role(request: HttpRequest) -> dict:
    """The signed-in user's role, shown in the header, and what they may do (`can.decide`): templates
    decide what to show from capabilities, never from a role's name."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {"role": role_of(user) if signed_in else "", "can": capabilities(user) if signed_in else {}}
