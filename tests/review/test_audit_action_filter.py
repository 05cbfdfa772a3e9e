"""The auditor's action filter offers every action in the catalogue, and each family's prefix."""

import re

import pytest

from dedupe.actions import Action
from tests.factories import merged

pytestmark = pytest.mark.django_db


def offered(html: str) -> list[str]:
    [options] = re.findall(r'<datalist id="audit-actions">(.*?)</datalist>', html, re.S)
    return re.findall(r'<option value="([^"]*)">', options)


def test_the_log_offers_every_action_and_prefix(client, auditor):
    client.force_login(auditor)

    choices = offered(client.get("/audit/").content.decode())

    assert set(Action) <= set(choices)
    assert {"decision.", "asset.", "auth.", "image."} <= set(choices)
    assert 'list="audit-actions"' in client.get("/audit/").content.decode()


def test_a_timeline_offers_them_too_even_beside_a_bad_filter(client, auditor, permits, archivist):
    _, [(_, keep), (_, duplicate)] = permits
    merged(keep, duplicate, archivist)
    client.force_login(auditor)

    page = client.get(f"/audit/timeline/asset/{duplicate.pk}/")
    refused = client.get(f"/audit/timeline/asset/{duplicate.pk}/", {"from": "yesterday"})

    assert page.status_code == 200 and set(Action) <= set(offered(page.content.decode()))
    assert refused.status_code == 400 and set(Action) <= set(offered(refused.content.decode()))
