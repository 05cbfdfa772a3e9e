"""Reviewers at the desk, and field tablets at the gate, for locust (driven by bench/load.py, which
prepares the database, the sessions and the token).

Reviewers: each opens a pair, loads both thumbnails, looks at them for 5-15 s, then decides
(same, different, or skip) through htmx as the desk's keys do, and goes on to the pair the answer
shows. A pair someone else decided first (409) is skipped, as a reviewer would.

Tablets (`--tablets`): each uploads a new photograph every 1-3 s through the gate with a fresh
Idempotency-Key, and sends one in five a second time with the same key, as after a dropped
connection. Every answered upload's key is logged (DEDUPE_LOAD_UPLOADS) for the ghost-copy check.
"""

import io
import itertools
import json
import os
import random
import re
import uuid

from locust import HttpUser, between, task

SESSIONS = (  # read once at start; only the reviewers' runs have sessions
    json.loads(open(os.environ["DEDUPE_LOAD_SESSIONS"]).read()) if "DEDUPE_LOAD_SESSIONS" in os.environ else {}  # noqa: SIM115
)
NEXT_SESSION = itertools.count()
ACTION = re.compile(r'action="/candidates/(\d+)/decide/"')
SEEN = re.compile(r'name="seen" value="(\d+)"')
KEEP = re.compile(r'name="canonical" value="(\d+)" form="decide-form" checked')
THUMB = re.compile(r'src="(/assets/\d+/thumbnail/)"')


class Reviewer(HttpUser):
    wait_time = between(5, 15)  # comparing two photographs and their facts before the key

    def on_start(self) -> None:
        me = SESSIONS["sessions"][next(NEXT_SESSION) % len(SESSIONS["sessions"])]
        self.client.cookies.set("sessionid", me["session"])
        self.client.cookies.set("csrftoken", me["csrf"])
        self.csrf = me["csrf"]
        self.page = ""
        self.open(random.choice(SESSIONS["candidates"]))

    def open(self, pk: int) -> None:
        with self.client.get(f"/candidates/{pk}/", name="pair page", catch_response=True) as response:
            self.show(response, ok=(200,))

    def show(self, response, ok: tuple[int, ...]) -> None:
        """Take the pair a response shows, and load its thumbnails as the browser would."""
        if response.status_code not in ok:
            response.failure(f"status {response.status_code}")
            return
        response.success()
        if response.headers.get("HX-Redirect"):  # the queue is empty
            self.page = ""
            return
        self.page = response.text
        for url in THUMB.findall(self.page)[:2]:
            with self.client.get(url, name="thumbnail", catch_response=True) as thumb:
                if thumb.status_code != 200:
                    thumb.failure(f"status {thumb.status_code}")

    @task
    def decide(self) -> None:
        action, seen = ACTION.search(self.page), SEEN.search(self.page)
        if not (action and seen):
            self.open(random.choice(SESSIONS["candidates"]))
            return
        roll = random.random()
        if roll < 0.6 and (keep := KEEP.search(self.page)):
            form = {"verdict": "same", "canonical": keep.group(1)}
        elif roll < 0.9:
            form = {"verdict": "different", "reason": "different_photograph"}
        else:
            form = {"verdict": "skip"}
        taken = "already decided" in self.page or 'role="status">This pair is decided' in self.page
        if taken:
            form = {"verdict": "skip"}
        url = f"/candidates/{action.group(1)}/decide/"
        headers = {"HX-Request": "true", "X-CSRFToken": self.csrf}
        with self.client.post(
            url, data=form | {"seen": seen.group(1)}, headers=headers, name=f"decision: {form['verdict']}",
            catch_response=True,
        ) as response:  # fmt: skip
            self.show(response, ok=(200, 409))  # 409: someone decided it first; the desk shows it decided


class Tablet(HttpUser):
    wait_time = between(1, 3)  # a field worker photographing a site, then the next

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {os.environ['DEDUPE_LOAD_TOKEN']}"}
        self.log = open(os.environ["DEDUPE_LOAD_UPLOADS"], "a")  # noqa: SIM115 - one line per answered upload

    @task
    def upload(self) -> None:
        from tests.factories import photo  # the test suite's drawn photographs: distinct per seed

        key, seed = uuid.uuid4().hex, random.getrandbits(48)
        buf = io.BytesIO()
        photo(seed, (1024, 768)).save(buf, "JPEG", quality=88)
        data = buf.getvalue()
        for attempt in ("first", "retry") if random.random() < 0.2 else ("first",):
            files = {"file": ("photo.jpg", data, "image/jpeg")}
            form = {"record_id": f"T-{seed % 5000}", "slot": "1"}
            with self.client.post(
                "/api/v1/sources/field-tablets/images", data=form, files=files, catch_response=True,
                headers=self.headers | {"Idempotency-Key": key}, name=f"upload ({attempt})",
            ) as response:  # fmt: skip
                if response.status_code in (200, 201):
                    response.success()
                    # Every answered key, the retry's too: it is the one answered when the first failed.
                    self.log.write(json.dumps({"key": key, "image": response.json()["image"]["id"]}) + "\n")
                    self.log.flush()
                elif response.status_code == 409 and attempt == "retry":
                    response.success()  # the first is still being answered: a tablet tries again later
                else:
                    response.failure(f"status {response.status_code}: {response.text[:200]}")
