"""Reviewers at the desk, for locust (driven by bench/load.py, which prepares the database and the
sessions): each opens a pair, loads both thumbnails, looks at them for 5-15 s, then decides
(same, different, or skip) through htmx as the desk's keys do, and goes on to the pair the answer
shows. A pair someone else decided first (409) is skipped, as a reviewer would.
"""

import itertools
import json
import os
import random
import re

from locust import HttpUser, between, task

SESSIONS = json.loads(open(os.environ["DEDUPE_LOAD_SESSIONS"]).read())  # noqa: SIM115 - read once at start
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
