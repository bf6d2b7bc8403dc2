#!/usr/bin/env python3
"""The Python client (clients/python) against a live dray serve: the Word Job submitted,
followed and waited for, its output read, and the API's errors as typed exceptions.

    client_test.py URL TOKEN WORD_JOB_FILE

Prints one JSON object of what it saw; exits non-zero on the first failed check."""

import json
import os
import sys
import tempfile
import uuid

from dray_client import BadRequest, Client, NotFound, Unauthorized, Unprocessable

url, token, word_job = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {}


def check(condition, message):
    if not condition:
        print(json.dumps({"failed": message, "seen": seen}))
        sys.exit(1)


dray = Client(url, token=token)
with open(word_job) as f:
    job = json.load(f)

# The Word Job, followed as it runs.
submitted = dray.submit(job)
check("id" in submitted, f"submit answered {submitted}")
lines = list(dray.follow(submitted["id"]))
seen["lines"] = lines
check([line["step"] for line in lines] == [1, 2, 3], f"one line per step: {lines}")
check([line["index"] for line in lines] == [0, 1, 2], "the lines' indexes")
word = lines[0]["text"]
check(lines[1]["text"] == word.upper() and lines[2]["text"] == word.upper()[::-1], "randword, upper, reverse")
state = dray.wait(submitted["id"], timeout=60)
check(state["status"] == "complete" and state["stepsCompleted"] == 3, f"the job completed: {state}")
check(dray.output(submitted["id"]) == (word.upper()[::-1] + "\n").encode(), "the job's output")
check(dray.output(submitted["id"], step=1) == (word + "\n").encode(), "step 1's output")
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "out")
    dray.save_output(submitted["id"], path, step=2)
    with open(path, "rb") as f:
        check(f.read() == (word.upper() + "\n").encode(), "step 2's output, saved")
check(dray.log(submitted["id"]) == [line["text"] for line in lines], "the log")
check(any(j["id"] == submitted["id"] for j in dray.jobs(status="complete")), "the list")

# Errors, typed, with the API's messages.
try:
    dray.submit({"steps": [{"source": "dray/upper", "retries": -1}]})
    check(False, "a bad job was accepted")
except BadRequest as error:
    seen["badRequest"] = error.problems
    check(error.status == 400 and any("retries" in p for p in error.problems), f"names the field: {error.problems}")
try:
    dray.get(str(uuid.uuid4()).upper())
    check(False, "an unknown job was found")
except NotFound as error:
    check(error.status == 404, "404")
try:
    Client(url).jobs()
    check(False, "no token was accepted")
except Unauthorized as error:
    check("token" in error.message, error.message)

# Idempotent submits.
key = str(uuid.uuid4())
once = dray.submit(job, idempotency_key=key)
again = dray.submit(job, idempotency_key=key)
check(once["id"] == again["id"], "one key, one job")
try:
    dray.submit({"steps": [{"source": "dray/upper"}]}, idempotency_key=key)
    check(False, "another job with the key was accepted")
except Unprocessable as error:
    check("Idempotency-Key" in error.message, error.message)
dray.wait(once["id"], timeout=60)
dray.delete(once["id"])

# Templates: stored, run with parameters, and a bad parameter refused by name.
name = "py-" + uuid.uuid4().hex[:8]
stored = dray.put_template(
    name,
    {"steps": [{"source": "dray/upper", "environment": [{"variable": "W", "value": "${{ params.word }}"}]}]},
    {"properties": {"word": {"type": "string", "pattern": "[a-z]+"}}, "required": ["word"]},
)
check(stored["version"] == 1, f"the first version: {stored}")
check(any(t["name"] == name for t in dray.templates()), "the template is listed")
ran = dray.run_template(name, {"word": "moss"})
check(dray.wait(ran["id"], timeout=60)["template"] == {"name": name, "version": 1}, "the run's template")
try:
    dray.run_template(name, {"word": "Moss"})
    check(False, "a bad parameter was accepted")
except BadRequest as error:
    check("params.word" in error.message, error.message)
schedule = dray.create_schedule("0 3 * * *", template=name, params={"word": "moss"}, time_zone="Europe/Paris")
check(schedule["nextRunAt"] and not schedule["paused"], f"the schedule: {schedule}")
check(dray.pause_schedule(schedule["id"])["paused"], "paused")
check(any(s["id"] == schedule["id"] for s in dray.schedules()), "the schedule is listed")
dray.delete_schedule(schedule["id"])
try:
    dray.schedule(schedule["id"])
    check(False, "a removed schedule was found")
except NotFound:
    pass
dray.delete_template(name)
try:
    dray.template(name)
    check(False, "a deleted template was found")
except NotFound:
    pass

print(json.dumps({"ok": True, "seen": seen}))
