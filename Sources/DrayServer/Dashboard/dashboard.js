// Dray's dashboard: the job list, a job's page, and a form to submit a job, all on the REST API.
// What jobs and steps wrote is only ever set as text (textContent), never parsed as HTML.
// The token, when the server asks for one, is kept in sessionStorage and sent as a Bearer
// header; no cookie is used, so another site cannot make a browser act with it.

const TOKEN_KEY = "dray-token";
const PAGE_SIZE = 50;
const LIST_POLL_MS = 2000;
const JOB_POLL_MS = 1000;
const MAX_SHOWN_LINES = 5000;
const REASONS = {
  canceled: "Canceled",
  timeout: "Timed out",
  shutdown: "Stopped: the server shut down before the job ended",
  restarted: "Lost: the server stopped while the job ran",
  "node-lost": "Lost: the node that ran it stopped answering",
  failed: "Failed",
};

const main = document.getElementById("main");
const announcer = document.getElementById("announcer");
const forget = document.getElementById("forget");

class Unauthorized extends Error {}

class Failure extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `the server answered ${status}`);
    this.status = status;
    this.problems = body && Array.isArray(body.problems) ? body.problems : [this.message];
  }
}

// --- The API -------------------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const request = { ...options, headers, credentials: "omit", cache: "no-store" };
  let response;
  try {
    response = await fetch(path, request);
  } catch (error) {
    // A read cut by the network (the browser saw an interface come or go) is tried once more.
    if ((options.method || "GET") !== "GET") throw error;
    await new Promise((resolve) => setTimeout(resolve, 250));
    response = await fetch(path, request);
  }
  if (response.status === 401) {
    showTokenForm(token !== null);
    throw new Unauthorized();
  }
  return response;
}

async function apiJSON(path, options) {
  const response = await api(path, options);
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Failure(response.status, body);
  return { body, response };
}

// --- Who the token is ----------------------------------------------------------------------

const SCOPES = ["read", "submit", "admin"];
let caller = null;

/** The caller (GET /me), once per token: its project (none for the server's token) and scope. */
async function whoAmI() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!caller || caller.token !== token) {
    const { body } = await apiJSON("/me");
    caller = { token, project: body.project || null, scope: body.scope };
    // The header offers New job only to a token that may submit.
    document.querySelectorAll("[data-needs]").forEach((node) => (node.hidden = !may(node.dataset.needs)));
  }
  return caller;
}

/** True when the caller's scope is `scope` or more; the server refuses the rest anyway. */
function may(scope) {
  return caller !== null && SCOPES.indexOf(caller.scope) >= SCOPES.indexOf(scope);
}

// --- Small helpers -------------------------------------------------------------------------

/** An element with attributes and children; strings become text nodes. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

function announce(text) {
  announcer.textContent = text;
}

function seconds(ms) {
  if (ms < 0 || !Number.isFinite(ms)) return "";
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function duration(job) {
  if (!job.startedAt) return job.status === "running" ? "queued" : "";
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  return seconds(end - Date.parse(job.startedAt));
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function when(text) {
  return text ? new Date(text).toLocaleString() : "";
}

function statusBadge(job) {
  return el("span", { class: `status ${job.status}`, text: job.status });
}

function stepOf(job) {
  const current = job.currentStep ?? job.stepsCompleted;
  return `${current}/${job.totalSteps}`;
}

function whyEnded(job) {
  if (job.status !== "error") return null;
  const reason = REASONS[job.reason] || "Failed";
  return job.error ? `${reason}: ${job.error}` : reason;
}

/** A button that asks first, in a modal dialog, and then runs `action`. */
function confirmed(label, question, action, danger = false) {
  return el("button", {
    type: "button",
    class: danger ? "danger" : null,
    text: label,
    onclick: () => {
      const dialog = el(
        "dialog",
        { "aria-labelledby": "confirm-question" },
        el("p", { id: "confirm-question", text: question }),
        el(
          "form",
          { method: "dialog", class: "actions" },
          el("button", { value: "yes", class: danger ? "danger" : "primary", text: `${label} the job` }),
          el("button", { value: "no", text: "Back", autofocus: true }),
        ),
      );
      dialog.addEventListener("close", () => {
        dialog.remove();
        if (dialog.returnValue === "yes") action();
      });
      document.body.append(dialog);
      dialog.showModal();
    },
  });
}

// --- The token -----------------------------------------------------------------------------

function showTokenForm(refused) {
  if (document.getElementById("token")) return;
  stopView();
  const input = el("input", { id: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  show(
    el("h1", { text: "This server needs a token" }),
    el("p", {
      text: refused
        ? "The token was refused. Paste the server's token again."
        : "Paste the token the server was started with (DRAY_TOKEN). It is kept in this tab only, until it closes.",
    }),
    el(
      "form",
      {
        class: "field",
        onsubmit: (event) => {
          event.preventDefault();
          sessionStorage.setItem(TOKEN_KEY, input.value.trim());
          forget.hidden = false;
          // The form goes: a refused token brings a new one that says so.
          show(el("p", { text: "Checking the token…" }));
          route();
        },
      },
      el("label", { for: "token", text: "Token" }),
      input,
      el("div", {}, el("button", { class: "primary", text: "Use the token" })),
    ),
  );
  input.focus();
}

forget.hidden = sessionStorage.getItem(TOKEN_KEY) === null;
forget.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  forget.hidden = true;
  route();
});

// --- The job list --------------------------------------------------------------------------

function listView(params) {
  const status = params.get("status") || "";
  const project = params.get("project") || "";
  const cursors = [null];
  let timer = null;
  let stopped = false;
  let shownIds = "";

  const filter = el(
    "select",
    { id: "status-filter", onchange: () => go({ status: filter.value }) },
    ["", "running", "complete", "error"].map((value) =>
      el("option", { value, selected: value === status, text: value || "all" }),
    ),
  );
  const projects = el("select", { id: "project-filter", onchange: () => go({ project: projects.value }) }, el("option", { value: "", text: "all" }));
  const newJob = el("a", { href: "#/new", text: "New job", hidden: !may("submit") });

  /** The list's address with `change` applied to its filters. */
  function go(change) {
    const query = new URLSearchParams({ status, project, ...change });
    for (const [key, value] of [...query]) if (!value) query.delete(key);
    location.hash = query.toString() ? `#/?${query}` : "#/";
  }

  /** The project switch: every project the caller sees; a project's token sees its own only. */
  async function fillProjects() {
    const me = await whoAmI();
    const { body } = await apiJSON("/projects");
    const names = new Set(body.projects.map((p) => p.name));
    names.add(me.project || "default");
    if (project) names.add(project);
    const options = [...names].sort().map((name) => el("option", { value: name, selected: name === project, text: name }));
    if (me.project) projects.replaceChildren(...options);
    else projects.replaceChildren(el("option", { value: "", text: "all" }), ...options);
    projects.disabled = me.project !== null;
  }
  const body = el("tbody");
  const table = el(
    "table",
    {},
    el("caption", { class: "visually-hidden", text: "Jobs, newest first" }),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ["Name", "ID", "Project", "Status", "Phase", "Step", "Duration", "Created"].map((name) =>
          el("th", { scope: "col", class: `col-${name.toLowerCase()}`, text: name }),
        ),
      ),
    ),
    body,
  );
  const empty = el("p", { class: "empty", hidden: true });
  const newer = el("button", { type: "button", text: "← Newer", disabled: true });
  const older = el("button", { type: "button", text: "Older →", disabled: true });
  const problem = el("p", { class: "problem", hidden: true, role: "alert" });

  newer.addEventListener("click", () => {
    cursors.pop();
    refresh();
  });
  let next = null;
  older.addEventListener("click", () => {
    if (next) cursors.push(next);
    refresh();
  });

  show(
    el("h1", { text: "Jobs" }),
    el(
      "div",
      { class: "toolbar" },
      el("label", { for: "status-filter", text: "Status" }),
      filter,
      el("label", { for: "project-filter", text: "Project" }),
      projects,
      el("span", { class: "grow" }),
      newJob,
    ),
    problem,
    el("div", { class: "table-wrap" }, table, empty),
    el("nav", { class: "pager", "aria-label": "Pages" }, newer, older),
  );

  function row(job) {
    return el(
      "tr",
      { "data-id": job.id, "data-json": JSON.stringify(job) },
      el("td", { class: "name", text: job.name || "" }),
      el("td", { class: "id" }, el("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, class: "mono", text: job.id.slice(0, 8), "aria-label": `Job ${job.id}` })),
      el("td", { class: "project", text: job.project || "" }),
      el("td", { class: "status-cell" }, statusBadge(job)),
      el("td", { class: "phase", text: job.reason && job.reason !== "failed" ? `${job.phase} (${job.reason})` : job.phase }),
      el("td", { class: "step", text: stepOf(job) }),
      el("td", { class: "duration", text: duration(job) }),
      el("td", { class: "created", text: when(job.createdAt) }),
    );
  }

  async function refresh() {
    clearTimeout(timer);
    const query = new URLSearchParams({ limit: PAGE_SIZE, order: "desc" });
    if (status) query.set("status", status);
    if (project) query.set("project", project);
    const cursor = cursors[cursors.length - 1];
    if (cursor) query.set("cursor", cursor);
    try {
      const { body: jobs, response } = await apiJSON(`/jobs?${query}`);
      if (stopped) return;
      problem.hidden = true;
      const link = response.headers.get("Link") || "";
      const match = /[?&]cursor=([^&>]*)/.exec(link);
      next = match ? decodeURIComponent(match[1]) : null;
      const ids = jobs.map((job) => job.id).join(",");
      if (ids === shownIds) {
        // The same jobs: replace only the rows that changed, so that focus stays where it is.
        jobs.forEach((job, index) => {
          const shown = body.rows[index];
          const json = JSON.stringify(job);
          if (shown.dataset.json !== json) shown.replaceWith(row(job));
          else shown.querySelector(".duration").textContent = duration(job);
        });
      } else {
        body.replaceChildren(...jobs.map(row));
        if (shownIds === "" && jobs.length) performance.mark("dray-list-rendered");
        shownIds = ids;
      }
      empty.hidden = jobs.length > 0;
      empty.textContent = status
        ? `No ${status} jobs.`
        : "No jobs yet. Submit one with New job, with dray submit, or with POST /jobs.";
      newer.disabled = cursors.length === 1;
      older.disabled = next === null;
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      problem.textContent = `The list could not be read: ${error.message}. Trying again.`;
      problem.hidden = false;
    }
    if (!stopped) timer = setTimeout(refresh, LIST_POLL_MS);
  }

  fillProjects().catch(() => {});
  refresh();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// --- A job's page --------------------------------------------------------------------------

function jobView(id) {
  let stopped = false;
  let timer = null;
  let lastStatus = null;
  const controller = new AbortController();

  const title = el("h1", { text: "Job" });
  const summary = el("div", { class: "summary" });
  const problem = el("p", { class: "problem", hidden: true });
  const actions = el("div", { class: "actions" });
  const timeline = el("ol", { class: "timeline", "aria-label": "Steps" });
  const graphView = el("div", { class: "graph", hidden: true });

  // A tap: what one running step passes on, as it flows, in a panel under the steps.
  const tapTitle = el("h3", {});
  const tapNote = el("p", { class: "note", "aria-live": "polite" });
  const tapView = el("pre", { class: "tap", tabindex: "0", "aria-label": "What the step passes on" });
  const tapClose = el("button", { type: "button", text: "Close the tap" });
  const tapPanel = el("section", { class: "tap-panel", hidden: true }, tapTitle, tapNote, tapView, tapClose);
  let tapping = null;

  // The log: lines as they come, each with its number, step and stream.
  const logView = el("div", { class: "log", role: "log", tabindex: "0", "aria-label": "Log" });
  const search = el("input", { id: "log-search", type: "search", placeholder: "Search the log" });
  const follow = el("input", { id: "log-follow", type: "checkbox", checked: true });
  const pause = el("button", { type: "button", "aria-pressed": "false", text: "Pause" });
  const followLabel = el("label", {}, follow, " Follow the end");
  const count = el("span", { class: "note", "aria-live": "off" });
  const trimmed = el("p", { class: "note", hidden: true });
  const downloadLog = el("button", { type: "button", text: "Download the log" });
  const downloadOutput = el("button", { type: "button", text: "Download the output", hidden: true });
  let paused = false;
  let held = [];
  let received = 0;
  let dropped = 0;

  show(
    el("p", {}, el("a", { href: "#/", text: "← Jobs" })),
    title,
    summary,
    problem,
    actions,
    el("h2", { text: "Steps" }),
    graphView,
    timeline,
    tapPanel,
    el("h2", { text: "Log" }),
    el(
      "div",
      { class: "toolbar" },
      el("label", { for: "log-search", class: "visually-hidden", text: "Search the log" }),
      search,
      followLabel,
      pause,
      count,
      el("span", { class: "grow" }),
      downloadLog,
      downloadOutput,
    ),
    trimmed,
    logView,
  );

  function matches(line) {
    const needle = search.value.trim().toLowerCase();
    return !needle || line.text.toLowerCase().includes(needle);
  }

  function append(lines) {
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      const node = el(
        "div",
        { class: `line ${line.stream}`, hidden: !matches(line) },
        el("span", { class: "n", text: line.index + 1 }),
        el("span", { class: "step", text: line.step, title: `step ${line.step}` }),
        el("span", { class: "stream", text: line.stream === "stderr" ? "err" : "out", title: line.stream }),
        el("span", { class: "text", text: line.text }),
      );
      node.dataset.text = line.text.toLowerCase();
      fragment.append(node);
    }
    logView.append(fragment);
    while (logView.childElementCount > MAX_SHOWN_LINES) {
      logView.firstElementChild.remove();
      dropped += 1;
    }
    trimmed.hidden = dropped === 0;
    trimmed.textContent = `The first ${dropped} lines are not shown here: download the log for every line.`;
    if (follow.checked) logView.scrollTop = logView.scrollHeight;
  }

  function receive(lines) {
    received += lines.length;
    count.textContent = `${received} lines`;
    if (paused) held.push(...lines);
    else append(lines);
  }

  search.addEventListener("input", () => {
    const needle = search.value.trim().toLowerCase();
    for (const node of logView.children) node.hidden = needle !== "" && !node.dataset.text.includes(needle);
  });
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      append(held);
      held = [];
    }
  });
  /** Opens the tap of step `number` (from 1): its lines as they flow, the last 500 shown. */
  async function tap(number, name) {
    if (tapping) tapping.abort();
    const tapController = new AbortController();
    // Leaving the job's page ends its tap too.
    controller.signal.addEventListener("abort", () => tapController.abort());
    tapping = tapController;
    tapPanel.hidden = false;
    tapTitle.textContent = `Tap on step ${number}. ${name}`;
    tapNote.textContent = "Waiting for bytes…";
    tapView.replaceChildren();
    let skipped = 0;
    try {
      const response = await api(`/jobs/${encodeURIComponent(id)}/steps/${number}/tap`, { signal: tapController.signal });
      if (!response.ok) throw new Failure(response.status, await response.json().catch(() => null));
      await readEvents(response, (events) => {
        const fragment = document.createDocumentFragment();
        for (const event of events) {
          if (event.event === "message" && event.data !== null) {
            fragment.append(el("div", { text: event.data }));
          } else if (event.event === "skipped") {
            skipped += JSON.parse(event.data).bytes;
          } else if (event.event === "end") {
            tapNote.textContent = `The step has ended${skipped ? `; ${size(skipped)} passed too fast to show` : ""}.`;
          }
        }
        tapView.append(fragment);
        while (tapView.childElementCount > 500) tapView.firstElementChild.remove();
        tapView.scrollTop = tapView.scrollHeight;
        if (tapNote.textContent === "Waiting for bytes…" && tapView.childElementCount) tapNote.textContent = "";
        if (skipped && !tapNote.textContent.startsWith("The step")) {
          tapNote.textContent = `${size(skipped)} passed too fast to show: a tap never slows the pipe.`;
        }
      });
    } catch (error) {
      if (tapController.signal.aborted) return;
      tapNote.textContent = error instanceof Failure ? error.message : String(error);
    }
  }
  tapClose.addEventListener("click", () => {
    if (tapping) tapping.abort();
    tapping = null;
    tapPanel.hidden = true;
  });

  downloadLog.addEventListener("click", () => download(id, "log"));
  downloadOutput.addEventListener("click", () => download(id, "output"));

  // The live log, from the server-sent events of ?follow=true, read with fetch so that the
  // token goes in a header. A dropped connection resumes after the last line received.
  let streaming = false;
  async function stream() {
    if (streaming) return;
    streaming = true;
    try {
      await followLog();
    } finally {
      streaming = false;
    }
  }

  async function followLog() {
    while (!stopped) {
      try {
        const response = await api(`/jobs/${encodeURIComponent(id)}/log?follow=true&detail=true&index=${received}`, {
          signal: controller.signal,
        });
        if (!response.ok) throw new Failure(response.status, await response.json().catch(() => null));
        let ended = false;
        await readEvents(response, (events) => {
          const lines = [];
          for (const event of events) {
            if (event.event === "end") {
              ended = true;
              break;
            }
            if (event.data !== null && event.id !== null) {
              const entry = JSON.parse(event.data);
              lines.push({ index: Number(event.id), step: entry.step, stream: entry.stream, text: entry.text });
            }
          }
          if (lines.length) receive(lines);
          return ended;
        });
        if (ended) {
          refreshJob();
          return;
        }
      } catch (error) {
        if (stopped || error instanceof Unauthorized) return;
        if (error instanceof Failure && error.status === 404) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** A graph's steps in columns by depth (the longest path from a root), with its edges, each
   * step coloured by its status. Names are set as text. Nothing for a chain. */
  function renderGraph(job) {
    const graph = stepGraph(job.steps);
    graphView.hidden = graph === null;
    if (graph === null) return;
    const svgNS = "http://www.w3.org/2000/svg";
    const box = { width: 150, height: 34, column: 200, row: 50 };
    const rows = [];
    const place = job.steps.map((_, index) => {
      const column = graph.depth[index];
      rows[column] = (rows[column] || 0) + 1;
      return { x: 10 + column * box.column, y: 10 + (rows[column] - 1) * box.row };
    });
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("width", 20 + (Math.max(...graph.depth) + 1) * box.column - (box.column - box.width));
    svg.setAttribute("height", 20 + Math.max(...rows) * box.row - (box.row - box.height));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "The job's steps and who reads whose output");
    graph.needs.forEach((needs, consumer) => {
      for (const producer of needs) {
        const line = document.createElementNS(svgNS, "line");
        line.setAttribute("x1", place[producer].x + box.width);
        line.setAttribute("y1", place[producer].y + box.height / 2);
        line.setAttribute("x2", place[consumer].x);
        line.setAttribute("y2", place[consumer].y + box.height / 2);
        line.setAttribute("class", "edge");
        svg.append(line);
      }
    });
    job.steps.forEach((step, index) => {
      const group = document.createElementNS(svgNS, "g");
      group.setAttribute("class", `node ${step.status || "waiting"}`);
      group.setAttribute("data-step", index + 1);
      const rect = document.createElementNS(svgNS, "rect");
      rect.setAttribute("x", place[index].x);
      rect.setAttribute("y", place[index].y);
      rect.setAttribute("width", box.width);
      rect.setAttribute("height", box.height);
      rect.setAttribute("rx", 6);
      const label = document.createElementNS(svgNS, "text");
      label.setAttribute("x", place[index].x + 8);
      label.setAttribute("y", place[index].y + 21);
      const name = step.name || `step ${index + 1}`;
      label.textContent = `${name.length > 14 ? name.slice(0, 13) + "…" : name} · ${step.status || "waiting"}`;
      const title = document.createElementNS(svgNS, "title");
      title.textContent = `${name}: ${step.status || "waiting"}`;
      group.append(rect, label, title);
      svg.append(group);
    });
    graphView.replaceChildren(svg);
  }

  function renderTimeline(job) {
    const starts = job.steps.map((step) => (step.startedAt ? Date.parse(step.startedAt) : null)).filter((t) => t);
    const origin = job.startedAt ? Date.parse(job.startedAt) : starts[0];
    const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
    const span = Math.max(end - origin, 1);
    timeline.replaceChildren(
      ...job.steps.map((step, index) => {
        const started = step.startedAt ? Date.parse(step.startedAt) : null;
        const finished = step.finishedAt ? Date.parse(step.finishedAt) : started ? Date.now() : null;
        const bar = el("div", {
          class: `bar ${step.exitCode > 0 ? "failed" : started && !step.finishedAt ? "running" : ""}`,
        });
        if (started) {
          bar.style.left = `${(100 * (started - origin)) / span}%`;
          bar.style.width = `${(100 * (finished - started)) / span}%`;
        } else {
          bar.hidden = true;
        }
        const passed = step.outputBytes !== undefined ? `, ${size(step.outputBytes)} out` : "";
        const running = started && !step.finishedAt && job.status === "running";
        const bottleneck = job.bottleneck === index + 1;
        const flow = (job.edges || []).filter((edge) => edge.live && (edge.to === index + 1 || edge.from === index + 1));
        const held = flow
          .map((edge) =>
            edge.to === index + 1
              ? `step ${edge.from} waited ${seconds(1000 * edge.blockedSeconds)} for it`
              : `step ${edge.to} waited ${seconds(1000 * edge.waitedSeconds)} for its output`,
          )
          .join("; ");
        const state =
          step.exitCode !== undefined && step.exitCode !== null
            ? `exit ${step.exitCode}${passed}`
            : step.status
              ? step.status
              : job.currentStep === index + 1 && job.status === "running"
                ? job.phase
                : "not run";
        return el(
          "li",
          { "data-step": index + 1, class: bottleneck ? "bottleneck" : "" },
          el(
            "div",
            { class: "step-name" },
            `${index + 1}. ${step.name || `step ${index + 1}`}`,
            el("code", { class: "image", text: step.source }),
          ),
          el("div", { class: "track", role: "img", "aria-label": started ? `ran ${seconds(finished - started)}` : "not started" }, bar),
          el("span", { class: "mono", text: started ? seconds(finished - started) : "" }),
          el("span", { class: step.exitCode > 0 ? "status error" : "muted", text: state }),
          bottleneck ? el("span", { class: "badge bottleneck-mark", text: "bottleneck", title: held }) : null,
          running
            ? el("button", {
                type: "button",
                class: "link step-tap",
                text: "Tap",
                title: `Show what step ${index + 1} passes on, as it flows`,
                onclick: () => tap(index + 1, step.name || `step ${index + 1}`),
              })
            : null,
          passedOn(job, step, index)
            ? el("button", {
                type: "button",
                class: "link step-output",
                text: "Download",
                title: `Download what step ${index + 1} passed on`,
                onclick: () => download(id, "output", index + 1),
              })
            : null,
          step.attempts && step.attempts.length > 1
            ? el("div", {
                class: "attempts",
                text: `Attempts: ${step.attempts.map((code, n) => `#${n + 1} ${code === null ? "timed out" : `exit ${code}`}`).join(", ")}`,
              })
            : null,
        );
      }),
    );
  }

  function renderActions(job) {
    const buttons = [];
    // A read token is offered no action: the server would refuse it.
    if (may("submit") && job.status === "running") {
      buttons.push(confirmed("Cancel", "Cancel this job? Its step is stopped and the job ends in error.", () => act("cancel"), true));
    }
    if (may("submit") && job.status === "error") {
      buttons.push(confirmed("Resume", "Resume this job from the step that failed?", () => act("resume")));
    }
    if (may("submit")) {
      buttons.push(confirmed("Delete", "Delete this job, its log and its output? This cannot be undone.", () => act("delete"), true));
    }
    actions.replaceChildren(...buttons);
    downloadOutput.hidden = job.status !== "complete";
    // Only a running job's log grows: a finished one has no end to follow and nothing to pause.
    followLabel.hidden = pause.hidden = job.status !== "running";
  }

  async function act(verb) {
    try {
      if (verb === "delete") {
        await apiJSON(`/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
        announce("The job was deleted.");
        location.hash = "#/";
        return;
      }
      await apiJSON(`/jobs/${encodeURIComponent(id)}/${verb}`, { method: "POST" });
      announce(verb === "cancel" ? "The job was canceled." : "The job was resumed.");
      if (verb === "resume") {
        // A resumed job's log goes on from where it was: follow it again.
        stream();
      }
      refreshJob();
    } catch (error) {
      if (error instanceof Unauthorized) return;
      problem.textContent = `Could not ${verb} the job: ${error.message}`;
      problem.hidden = false;
    }
  }

  async function refreshJob() {
    clearTimeout(timer);
    try {
      const { body: job } = await apiJSON(`/jobs/${encodeURIComponent(id)}`);
      if (stopped) return;
      document.title = `${job.name || job.id.slice(0, 8)} · Dray`;
      title.textContent = job.name || `Job ${job.id.slice(0, 8)}`;
      summary.replaceChildren(
        statusBadge(job),
        el("span", { text: `phase ${job.phase}` }),
        el("span", {
          text: job.status === "running" ? `step ${stepOf(job)}` : `${job.stepsCompleted} of ${job.totalSteps} steps done`,
        }),
        el("span", { text: duration(job) }),
        el("code", { class: "muted", text: job.id }),
      );
      const why = whyEnded(job);
      problem.hidden = why === null;
      problem.textContent = why || "";
      renderGraph(job);
      renderTimeline(job);
      renderActions(job);
      if (lastStatus !== null && lastStatus !== job.status) announce(`The job is ${job.status}.`);
      lastStatus = job.status;
      if (job.status === "running") timer = setTimeout(refreshJob, JOB_POLL_MS);
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      if (error instanceof Failure && error.status === 404) {
        show(el("h1", { text: "No such job" }), el("p", { text: error.message }), el("a", { href: "#/", text: "Back to the jobs" }));
        return;
      }
      problem.textContent = `The job could not be read: ${error.message}. Trying again.`;
      problem.hidden = false;
      timer = setTimeout(refreshJob, JOB_POLL_MS);
    }
  }

  refreshJob();
  stream();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
    },
  };
}

/** For a job whose steps say `needs`: each step's needs as indexes, and its depth (the
 * longest path to it from a root, found in the order Kahn's algorithm gives); null for a chain. */
function stepGraph(steps) {
  if (!steps.some((step) => Array.isArray(step.needs))) return null;
  const index = new Map(steps.map((step, n) => [step.name, n]));
  const needs = steps.map((step) => (step.needs || []).map((name) => index.get(name)).filter((n) => n !== undefined));
  const depth = steps.map(() => 0);
  const waiting = needs.map((list) => list.length);
  const ready = waiting.flatMap((count, n) => (count === 0 ? [n] : []));
  while (ready.length > 0) {
    const step = ready.shift();
    needs.forEach((list, consumer) => {
      if (!list.includes(step)) return;
      depth[consumer] = Math.max(depth[consumer], depth[step] + 1);
      waiting[consumer] -= 1;
      if (waiting[consumer] === 0) ready.push(consumer);
    });
  }
  return { needs, depth };
}

/** One server-sent event's fields; `data` lines joined with LF, as EventSource does. */
/** Reads a response's server-sent events as they come, calling `onEvents` with those each chunk
 * completes, until the stream ends or `onEvents` returns true. */
async function readEvents(response, onEvents) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const events = [];
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      events.push(parseEvent(buffer.slice(0, end)));
      buffer = buffer.slice(end + 2);
    }
    if (events.length && onEvents(events) === true) {
      reader.cancel().catch(() => {});
      return;
    }
  }
}

function parseEvent(text) {
  const event = { event: "message", id: null, data: null };
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") event.data = event.data === null ? value : `${event.data}\n${value}`;
    else if (field === "id") event.id = value;
    else if (field === "event") event.event = value;
  }
  return event;
}

/** Saves a job's whole log (as text) or its output (as bytes), read with the token. */
/** Whether a step has an output to download: it completed, and its output was kept (a
 * streaming job keeps the outputs between its steps only when it is durable). */
function passedOn(job, step, index) {
  const completed = step.exitCode === 0 && (!step.status || step.status === "complete");
  const last = index === job.steps.length - 1 || Array.isArray(step.needs);
  return completed && (!job.streaming || job.durable || last);
}

async function download(id, what, step) {
  try {
    let blob;
    if (what === "log") {
      const lines = [];
      for (;;) {
        const { body } = await apiJSON(`/jobs/${encodeURIComponent(id)}/log?index=${lines.length}&limit=10000`);
        lines.push(...body.lines);
        if (body.lines.length < 10000) break;
      }
      blob = new Blob(lines.map((line) => `${line}\n`), { type: "text/plain;charset=utf-8" });
    } else {
      const path = step ? `/steps/${step}/output` : "/output";
      const response = await api(`/jobs/${encodeURIComponent(id)}${path}`);
      if (!response.ok) throw new Failure(response.status, await response.json().catch(() => null));
      blob = await response.blob();
    }
    const name = what === "log" ? "log.txt" : step ? `step-${step}.output` : "output";
    const link = el("a", { href: URL.createObjectURL(blob), download: `${id}.${name}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    if (!(error instanceof Unauthorized)) announce(`The ${what} could not be downloaded: ${error.message}`);
  }
}

// --- Submitting a job ----------------------------------------------------------------------

const EXAMPLE = `{
  "name": "Word Job",
  "steps": [
    { "source": "dray/randword" },
    { "source": "dray/upper" },
    { "source": "dray/reverse" }
  ]
}`;

function submitView() {
  const text = el("textarea", {
    id: "job-text",
    name: "job",
    spellcheck: "false",
    "aria-describedby": "job-help job-problems",
    placeholder: EXAMPLE,
  });
  const problems = el("ul", { id: "job-problems", class: "problems", "aria-live": "assertive" });
  const submit = el("button", { class: "primary", text: "Submit" });
  const form = el(
    "form",
    { class: "job", novalidate: true },
    el(
      "div",
      { class: "field" },
      el("label", { for: "job-text", text: "Job description" }),
      el("span", { id: "job-help", class: "note", text: "JSON or YAML, as for POST /jobs: a name and a list of steps, each with its source image." }),
      text,
      problems,
    ),
    el("div", { class: "actions" }, submit, el("a", { href: "#/", text: "Back to the jobs" })),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problems.replaceChildren();
    text.removeAttribute("aria-invalid");
    const body = text.value.trim() ? text.value : "";
    if (!body) {
      problems.append(el("li", { text: "Write a job description first." }));
      text.setAttribute("aria-invalid", "true");
      text.focus();
      return;
    }
    submit.disabled = true;
    try {
      const type = body.trimStart().startsWith("{") ? "application/json" : "application/yaml";
      const { body: job } = await apiJSON("/jobs", { method: "POST", headers: { "Content-Type": type }, body });
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (error) {
      if (error instanceof Unauthorized) return;
      problems.replaceChildren(...(error.problems || [error.message]).map((problem) => el("li", { text: problem })));
      text.setAttribute("aria-invalid", "true");
      text.focus();
    } finally {
      submit.disabled = false;
    }
  });
  const fromTemplate = templateForm();
  show(el("h1", { text: "New job" }), form, fromTemplate.section);
  text.focus();
  return { stop() {} };
}

// --- A job from a template ------------------------------------------------------------------

// The input for a template's parameter: a text box (with its pattern), a number box (with its
// range), a checkbox, or a list of its values.
function parameterInput(name, parameter, required) {
  const id = `param-${name}`;
  const shown = parameter.default === undefined ? "" : String(parameter.default);
  let input;
  if (parameter.enum) {
    input = el("select", { id, name }, parameter.enum.map((value) => el("option", { value: String(value), selected: String(value) === shown, text: String(value) })));
  } else if (parameter.type === "boolean") {
    input = el("input", { id, name, type: "checkbox", checked: parameter.default === true });
  } else if (parameter.type === "integer" || parameter.type === "number") {
    input = el("input", { id, name, type: "number", value: shown, step: parameter.type === "integer" ? "1" : "any" });
    if (parameter.minimum !== undefined) input.min = String(parameter.minimum);
    if (parameter.maximum !== undefined) input.max = String(parameter.maximum);
  } else {
    input = el("input", { id, name, type: "text", value: shown, spellcheck: "false" });
    if (parameter.pattern) input.pattern = parameter.pattern;
    if (parameter.maxLength !== undefined) input.maxLength = parameter.maxLength;
  }
  if (required) input.required = true;
  const label = el("label", { for: id, text: name + (required ? " (required)" : "") });
  const note = parameter.description ? el("span", { class: "note", text: parameter.description }) : null;
  return { field: el("div", { class: "field" }, label, ...(note ? [note] : []), input), input, parameter };
}

// The value a parameter's input holds, typed; undefined when it is empty (the default applies).
function parameterValue({ input, parameter }) {
  if (parameter.type === "boolean") return input.checked;
  if (input.value === "") return undefined;
  if (parameter.type === "integer" || parameter.type === "number") {
    const number = Number(input.value);
    return Number.isNaN(number) ? input.value : number;
  }
  return input.value;
}

function templateForm() {
  const choose = el("select", { id: "template-choice" }, el("option", { value: "", text: "Choose a template" }));
  const fields = el("div", { id: "template-fields" });
  const problems = el("ul", { id: "template-problems", class: "problems", "aria-live": "assertive" });
  const run = el("button", { class: "primary", text: "Run the template", disabled: true });
  const form = el(
    "form",
    { class: "job", novalidate: true },
    el("div", { class: "field" }, el("label", { for: "template-choice", text: "Template" }), choose),
    fields,
    problems,
    el("div", { class: "actions" }, run),
  );
  const section = el("section", { "aria-labelledby": "template-heading", hidden: true }, el("h2", { id: "template-heading", text: "Or from a template" }), form);
  let templates = [];
  let inputs = [];
  apiJSON("/templates")
    .then(({ body }) => {
      templates = body.templates || [];
      if (!templates.length) return;
      for (const template of templates) {
        choose.append(el("option", { value: template.name, text: `${template.name} (version ${template.version})` }));
      }
      section.hidden = false;
    })
    .catch(() => {});
  choose.addEventListener("change", () => {
    const template = templates.find((t) => t.name === choose.value);
    problems.replaceChildren();
    const properties = (template && template.parameters && template.parameters.properties) || {};
    const required = (template && template.parameters && template.parameters.required) || [];
    inputs = Object.keys(properties).sort().map((name) => ({ name, ...parameterInput(name, properties[name], required.includes(name)) }));
    fields.replaceChildren(...inputs.map((entry) => entry.field));
    run.disabled = !template;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problems.replaceChildren();
    const params = {};
    for (const entry of inputs) {
      entry.input.removeAttribute("aria-invalid");
      const value = parameterValue(entry);
      if (value !== undefined) params[entry.name] = value;
    }
    run.disabled = true;
    try {
      const { body: job } = await apiJSON(`/templates/${encodeURIComponent(choose.value)}/runs`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ params }),
      });
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (error) {
      if (error instanceof Unauthorized) return;
      const messages = error.problems || [error.message];
      problems.replaceChildren(...messages.map((problem) => el("li", { text: problem })));
      for (const entry of inputs) {
        if (messages.some((m) => m.startsWith(`params.${entry.name} `))) entry.input.setAttribute("aria-invalid", "true");
      }
    } finally {
      run.disabled = false;
    }
  });
  return { section };
}

// --- Schedules -----------------------------------------------------------------------------

function schedulesView() {
  let timer = null;
  let stopped = false;
  const body = el("tbody");
  const table = el(
    "table",
    {},
    el("caption", { class: "visually-hidden", text: "Schedules" }),
    el("thead", {}, el("tr", {}, ["Runs", "Cron", "Time zone", "State", "Next run", "Last job", ""].map((name) => el("th", { scope: "col", text: name })))),
    body,
  );
  const empty = el("p", { class: "empty", hidden: true, text: "No schedules. Add one with POST /schedules or dray schedule add." });
  const problem = el("p", { class: "problem", hidden: true, role: "alert" });

  async function toggle(schedule) {
    try {
      await apiJSON(`/schedules/${encodeURIComponent(schedule.id)}/${schedule.paused ? "resume" : "pause"}`, { method: "POST" });
      announce(schedule.paused ? "Schedule resumed" : "Schedule paused");
      refresh();
    } catch (error) {
      if (error instanceof Unauthorized) return;
      problem.textContent = error.message;
      problem.hidden = false;
    }
  }

  function row(schedule) {
    const runs = schedule.template ? `template ${schedule.template}` : (schedule.job && schedule.job.name) || "job";
    const button = may("submit")
      ? el("button", { type: "button", text: schedule.paused ? "Resume" : "Pause", onclick: () => toggle(schedule) })
      : el("span", { text: "—" });
    return el(
      "tr",
      { "data-id": schedule.id },
      el("td", { text: runs }),
      el("td", {}, el("code", { text: schedule.cron })),
      el("td", { text: schedule.timeZone }),
      el("td", { class: "state", text: schedule.paused ? "paused" : "active" }),
      el("td", { class: "next", text: schedule.nextRunAt ? when(schedule.nextRunAt) : "—" }),
      el("td", {}, schedule.lastJob ? el("a", { href: `#/jobs/${encodeURIComponent(schedule.lastJob)}`, text: schedule.lastJob.slice(0, 8) }) : el("span", { text: "—" })),
      el("td", {}, button),
    );
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const { body: answer } = await apiJSON("/schedules");
      if (stopped) return;
      problem.hidden = true;
      body.replaceChildren(...answer.schedules.map(row));
      empty.hidden = answer.schedules.length > 0;
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      problem.textContent = error.message;
      problem.hidden = false;
    }
    if (!stopped) timer = setTimeout(refresh, LIST_POLL_MS);
  }

  document.title = "Schedules · Dray";
  show(el("h1", { text: "Schedules" }), problem, el("div", { class: "table-wrap" }, table, empty));
  refresh();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// --- Routing -------------------------------------------------------------------------------

let view = null;

function stopView() {
  if (view) view.stop();
  view = null;
}

let routeTurn = 0;

async function route() {
  const turn = ++routeTurn;
  stopView();
  try {
    // Who the token is, before any view offers an action.
    await whoAmI();
  } catch (error) {
    if (error instanceof Unauthorized) return;
  }
  // Another route began meanwhile: it shows its view.
  if (turn !== routeTurn) return;
  stopView();
  document.title = "Dray";
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  if (path.startsWith("/jobs/")) view = jobView(decodeURIComponent(path.slice(6)));
  else if (path === "/new") view = submitView();
  else if (path === "/schedules") view = schedulesView();
  else view = listView(new URLSearchParams(query || ""));
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
route();
