import pytest

from tests.factories import archive_rows, user_with_role


@pytest.fixture
def permits(db):
    return archive_rows("permits")


@pytest.fixture
def cases(db):
    return archive_rows("cases")


@pytest.fixture
def archivist(db):
    return user_with_role("archivist", "archivist")


@pytest.fixture
def auditor(db):
    return user_with_role("auditor", "auditor")


@pytest.fixture
def administrator(db):
    return user_with_role("administrator", "administrator")


@pytest.fixture
def caseworker(cases):
    return user_with_role("caseworker", "caseworker", sources=(cases[0],))


@pytest.fixture
def outsider_caseworker(permits):
    return user_with_role("outsider", "caseworker", sources=(permits[0],))
