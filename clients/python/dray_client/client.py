"""The client: one method per route of Dray's REST API."""

import json
import os
import shutil
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from .errors import Unreachable, error_for

_ENDED = ("complete", "error")


class Client:
    """A Dray server at `url` (default `DRAY_URL`, else http://127.0.0.1:3000), with `token`
    (default `DRAY_TOKEN`) sent as a bearer token, and `ca_cert`, a PEM file of certificates
    to trust for an https:// server besides the system's."""

    def __init__(self, url=None, token=None, ca_cert=None, timeout=60):
        self.url = (url or os.environ.get("DRAY_URL") or "http://127.0.0.1:3000").rstrip("/")
        self.token = token if token is not None else os.environ.get("DRAY_TOKEN") or None
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_cert) if ca_cert else None

    # Jobs

    def submit(self, job, idempotency_key=None, traceparent=None):
        """Submits `job` (a dict, or a JSON or YAML string) and returns it echoed with its `id`.
        With `idempotency_key`, submitting the same job again within 24 hours returns the same
        job rather than making another."""
        if isinstance(job, (dict, list)):
            body = json.dumps(job, sort_keys=True).encode()
        else:
            body = job.encode() if isinstance(job, str) else job
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if traceparent is not None:
            headers["traceparent"] = traceparent
        return self._json("POST", "/jobs", body=body, headers=headers)

    def get(self, job_id):
        """The job's state: `status`, `phase`, `steps`, `edges`…"""
        return self._json("GET", f"/jobs/{_quote(job_id)}")

    def jobs(self, status=None, limit=None, newest_first=False):
        """Job summaries, oldest first (or newest first), filtered by status."""
        query = {}
        if status is not None:
            query["status"] = status
        if limit is not None:
            query["limit"] = str(limit)
        if newest_first:
            query["order"] = "desc"
        return self._json("GET", "/jobs" + _query(query))

    def wait(self, job_id, timeout=None):
        """Waits until the job has ended and returns its state; raises TimeoutError when
        `timeout` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.1
        while True:
            state = self.get(job_id)
            if state.get("status") in _ENDED:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} did not end within {timeout} s: {state.get('status')}")
            time.sleep(pause if deadline is None else max(0, min(pause, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)

    def follow(self, job_id, index=0):
        """The job's log lines from `index`, as they come, until the job ends: each a dict
        `{"index", "step", "stream", "text"}`, `step` counted from 1."""
        path = f"/jobs/{_quote(job_id)}/log" + _query({"follow": "true", "detail": "true", "index": str(index)})
        with self._open("GET", path, headers={"Accept": "text/event-stream"}, timeout=None) as answer:
            for event, event_id, data in _events(answer):
                if event == "end":
                    return
                if event == "message":
                    line = json.loads(data)
                    line["index"] = int(event_id) if event_id is not None else None
                    yield line

    def log(self, job_id, index=0, limit=None):
        """The log's lines (text only) from `index`, at most `limit`."""
        query = {"index": str(index)}
        if limit is not None:
            query["limit"] = str(limit)
        return self._json("GET", f"/jobs/{_quote(job_id)}/log" + _query(query))["lines"]

    def output(self, job_id, step=None):
        """The job's output (its last step's), or step `step`'s (a name, or a number from 1), as bytes."""
        with self._open("GET", self._output_path(job_id, step)) as answer:
            return answer.read()

    def save_output(self, job_id, path, step=None):
        """Streams the output into the file at `path`, whatever its size."""
        with self._open("GET", self._output_path(job_id, step), timeout=None) as answer, open(path, "wb") as file:
            shutil.copyfileobj(answer, file, 1 << 20)

    def cancel(self, job_id):
        """Stops a running or queued job; it ends in `error`, reason `canceled`."""
        return self._json("POST", f"/jobs/{_quote(job_id)}/cancel")

    def resume(self, job_id):
        """Runs a job in `error` again from the step that failed."""
        return self._json("POST", f"/jobs/{_quote(job_id)}/resume")

    def delete(self, job_id):
        """Deletes a job, its log and its outputs (stopping it first)."""
        with self._open("DELETE", f"/jobs/{_quote(job_id)}") as answer:
            answer.read()

    # Schedules

    def create_schedule(self, cron, job=None, template=None, params=None, time_zone="UTC", catch_up="one",
                        overlap=False):
        """Runs `job` (or template `template` with `params`) at each tick of `cron` (five fields,
        @hourly…, or @every 30s) read in `time_zone`; returns the schedule with its `id` and
        `nextRunAt`."""
        body = {"cron": cron, "timeZone": time_zone, "catchUp": catch_up, "overlap": overlap}
        if job is not None:
            body["job"] = job
        if template is not None:
            body["template"] = template
            body["params"] = params or {}
        return self._json(
            "POST", "/schedules", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )

    def schedules(self):
        """Every schedule, oldest first."""
        return self._json("GET", "/schedules")["schedules"]

    def schedule(self, schedule_id):
        return self._json("GET", f"/schedules/{_quote(schedule_id)}")

    def pause_schedule(self, schedule_id):
        return self._json("POST", f"/schedules/{_quote(schedule_id)}/pause")

    def resume_schedule(self, schedule_id):
        return self._json("POST", f"/schedules/{_quote(schedule_id)}/resume")

    def delete_schedule(self, schedule_id):
        """Removes a schedule; its jobs stay."""
        with self._open("DELETE", f"/schedules/{_quote(schedule_id)}") as answer:
            answer.read()

    # Templates

    def put_template(self, name, job, parameters=None):
        """Stores `job` with `parameters` (a JSON Schema object: `properties`, `required`) as
        template `name`'s next version; returns it with its `version`."""
        body = {"job": job}
        if parameters is not None:
            body["parameters"] = parameters
        return self._json(
            "PUT", f"/templates/{_quote(name)}", body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )

    def templates(self):
        """Every template's latest version."""
        return self._json("GET", "/templates")["templates"]

    def template(self, name, version=None):
        """A template's latest version, or `version`."""
        return self._json("GET", f"/templates/{_quote(name)}" + _query({"version": str(version)} if version else {}))

    def delete_template(self, name):
        """Deletes every version of a template; its jobs stay."""
        with self._open("DELETE", f"/templates/{_quote(name)}") as answer:
            answer.read()

    def run_template(self, name, params=None, idempotency_key=None):
        """Submits a job from template `name` with `params`; returns it echoed with its `id`."""
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        body = json.dumps({"params": params or {}}, sort_keys=True).encode()
        return self._json("POST", f"/templates/{_quote(name)}/runs", body=body, headers=headers)

    def deliveries(self, job_id):
        """The job's webhook deliveries, each with its tries."""
        return self._json("GET", f"/jobs/{_quote(job_id)}/deliveries")["deliveries"]

    # The wire

    def _output_path(self, job_id, step):
        if step is None:
            return f"/jobs/{_quote(job_id)}/output"
        return f"/jobs/{_quote(job_id)}/steps/{_quote(str(step))}/output"

    def _json(self, method, path, body=None, headers=None):
        with self._open(method, path, body=body, headers=headers) as answer:
            data = answer.read()
        return json.loads(data) if data else None

    def _open(self, method, path, body=None, headers=None, timeout=0):
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=dict(headers or {}))
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            return urllib.request.urlopen(
                request, timeout=self.timeout if timeout == 0 else timeout, context=self._context
            )
        except urllib.error.HTTPError as answer:
            raw = answer.read()
            try:
                parsed = json.loads(raw)
                message, problems = parsed.get("error", ""), parsed.get("problems")
            except (ValueError, AttributeError):
                message, problems = raw.decode("utf-8", "replace").strip(), None
            raise error_for(answer.code, message or f"the server answered {answer.code}", problems) from None
        except urllib.error.URLError as failure:
            raise Unreachable(f"cannot reach the Dray server at {self.url}: {failure.reason}") from None
        except OSError as failure:
            raise Unreachable(f"cannot reach the Dray server at {self.url}: {failure}") from None


def _quote(text):
    return urllib.parse.quote(text, safe="")


def _query(values):
    return "?" + urllib.parse.urlencode(values) if values else ""


def _events(stream):
    """A server-sent event stream's events, as (type, id, data): `data:` fields joined with
    LF; comments skipped."""
    event, event_id, data = "message", None, []
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, event_id, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            event_id = line[3:].strip()
