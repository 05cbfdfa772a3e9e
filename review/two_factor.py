"""A second factor for the people who can change the most: administrators, staff and archivists.

After the password, such a person proves a TOTP code from an authenticator app (or spends one
of their recovery codes) before any other page answers. Someone who has no authenticator yet is
sent to enrol one: the QR code, the otpauth URI and the secret, then a code to confirm it, then
ten recovery codes shown once. Built on django-otp (TOTPDevice, StaticDevice); DEDUPE_REQUIRE_2FA
turns it on (the default in production).
"""

from base64 import b32encode
from collections.abc import Callable
from typing import Any

import segno
from django import forms
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dedupe.actions import Action, Subject
from dedupe.audit import audit_record
from dedupe.roles import role_of

SECOND_FACTOR_ROLES = frozenset({"administrator", "archivist"})
RECOVERY_CODES = 10
EXEMPT_URL_NAMES = ("logout", "second-factor", "second-factor-enrol")


def requires_second_factor(user: Any) -> bool:
    """Administrators (superusers, staff or the role) and archivists, when DEDUPE_REQUIRE_2FA is on."""
    if not settings.DEDUPE_REQUIRE_2FA or not user.is_authenticated:
        return False
    return user.is_superuser or user.is_staff or role_of(user) in SECOND_FACTOR_ROLES


class SecondFactorMiddleware:
    """Until the second factor is proven, every page but sign-out and the second-factor pages
    sends the person to them. After OTPMiddleware, which sets `user.is_verified()`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and request.path not in {reverse(name) for name in EXEMPT_URL_NAMES}
            and requires_second_factor(user)
            and not user.is_verified()  # type: ignore[attr-defined]  # added by django_otp's OTPMiddleware
        ):
            target = "second-factor" if user_has_device(user) else "second-factor-enrol"
            then = request.get_full_path() if request.method == "GET" else reverse(settings.LOGIN_REDIRECT_URL)
            url = f"{reverse(target)}?{urlencode({'next': then})}"
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = url
                return response
            return redirect(url)
        return self.get_response(request)


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code", max_length=32, widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True})
    )

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split()).lower()


def _next(request: HttpRequest) -> str:
    """Where to go once verified: the page asked for, if it is on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


def _verified_device(user: Any, token: str) -> TOTPDevice | StaticDevice | None:
    """The device the token proves, or None. Six digits are a TOTP code, anything else a
    recovery code; each device throttles its own failures (django-otp doubles the wait)."""
    model = TOTPDevice if token.isdigit() and len(token) == 6 else StaticDevice
    with transaction.atomic():
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            if device.verify_token(token):
                return device
    return None


def _devices(user: Any) -> list:
    return [*TOTPDevice.objects.devices_for_user(user), *StaticDevice.objects.devices_for_user(user)]


def _record(request: HttpRequest, action: Action, after: dict) -> None:
    with transaction.atomic():
        audit_record(action=action, actor=request.user, subjects=[(Subject.USER, request.user.pk)], after=after)


def second_factor(request: HttpRequest) -> HttpResponse:
    """Sign-in, step two: a code from the authenticator app or one recovery code."""
    user = request.user
    if not user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if not user_has_device(user):
        return redirect(f"{reverse('second-factor-enrol')}?{urlencode({'next': _next(request)})}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # django-otp makes each device wait 1, 2, 4, ... seconds after each wrong code
        throttled = any(not device.verify_is_allowed()[0] for device in _devices(user))
        device = None if throttled else _verified_device(user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            after = {"device": "authenticator" if isinstance(device, TOTPDevice) else "recovery code"}
            if isinstance(device, StaticDevice):
                after["recovery_codes_left"] = device.token_set.count()
            _record(request, Action.AUTH_SECOND_FACTOR, after)
            return redirect(_next(request))
        form.add_error("token", "Wait a moment: too many wrong codes." if throttled else "That code does not match.")
    return render(request, "registration/second_factor.html", {"form": form, "next": _next(request)})


def second_factor_enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in of someone who must use a second factor: add an authenticator app.

    Only while they have no confirmed device: otherwise a stolen password could enrol the
    thief's phone. An administrator can remove a lost device in the admin (OTP devices)."""
    user = request.user
    if not user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    if user_has_device(user):
        return redirect(f"{reverse('second-factor')}?{urlencode({'next': _next(request)})}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first() or TOTPDevice.objects.create(
        user=user, name="authenticator", confirmed=False
    )
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
            if device.verify_token(form.cleaned_data["token"]):
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                codes = recovery_codes_issue(user)
                otp_login(request, device)
                audit_record(
                    action=Action.AUTH_SECOND_FACTOR_ENROL,
                    actor=user,
                    subjects=[(Subject.USER, user.pk)],
                    after={"device": "authenticator", "recovery_codes": len(codes)},
                )
                return render(request, "registration/recovery_codes.html", {"codes": codes, "next": _next(request)})
        form.add_error("token", "That code does not match: check the phone's clock and type the newest code.")
    context = {
        "form": form,
        "next": _next(request),
        "uri": device.config_url,
        "secret": b32encode(device.bin_key).decode(),
        "qr": segno.make(device.config_url, error="m").svg_data_uri(scale=4),
    }
    return render(request, "registration/second_factor_enrol.html", context)


def recovery_codes_issue(user: Any) -> list[str]:
    """Ten new one-use recovery codes for the user, replacing any earlier ones; returned once."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes
