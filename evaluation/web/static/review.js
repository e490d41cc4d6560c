"use strict";
// The review page: one instance at a time; decisions go to review.jsonl through POST /api/decide.

const review = { instances: [], currentId: null };

function visible() {
  const task = document.getElementById("f-task").value;
  const show = document.getElementById("f-show").value;
  const decision = document.getElementById("f-decision").value;
  return review.instances.filter((item) =>
    (!task || item.task_type === task) && (!show || item.show === show) &&
    (!decision || (decision === "unreviewed" ? item.decision === null : item.decision === decision)));
}

// The first unreviewed visible instance after `afterId` in release order (wrapping), else the first visible.
function nextUnreviewed(afterId) {
  const shown = visible();
  const order = review.instances.map((item) => item.id);
  const start = afterId ? order.indexOf(afterId) + 1 : 0;
  for (let step = 0; step < order.length; step++) {
    const id = order[(start + step) % order.length];
    const item = shown.find((candidate) => candidate.id === id);
    if (item && item.decision === null) return item.id;
  }
  return shown.length ? shown[0].id : null;
}

function setProgress(progress) {
  fill("progress", progress.line);
}

function updatePosition() {
  const shown = visible();
  const index = shown.findIndex((item) => item.id === review.currentId);
  fill("position", shown.length ? `${index >= 0 ? index + 1 : "–"} of ${shown.length} shown` : "nothing matches the filters");
}

function renderDecision(decision) {
  const badge = document.getElementById("current-decision");
  if (!decision) { badge.className = "badge"; badge.textContent = "unreviewed"; return; }
  badge.className = decision.decision === "accept" ? "badge ok" : "badge bad";
  badge.textContent = decision.decision === "accept" ? "accepted" : `rejected: ${decision.reason}`;
}

function renderEvidence(evidence) {
  if (!evidence) return [el("span", { class: "small" }, "no verify record for this instance (release without its build folder)")];
  const people = el("table", {},
    el("tr", {}, el("th", {}, "person"), el("th", {}, `source: ${evidence.source_kind}`), el("th", {}, `target: ${evidence.target_kind}`)),
    evidence.people.map((person) => el("tr", {},
      el("td", {}, person.name),
      el("td", { class: person.matches_cue ? "match" : null }, person.source_values.join(" · ") || "unknown"),
      el("td", {}, person.target_values.join(" · ") || "unknown"))));
  const parts = [
    el("div", {}, "cue ", el("b", {}, `${evidence.source_kind} = “${evidence.source_value}”`),
      " → answer ", el("b", {}, `${evidence.target_kind} = “${evidence.answer_text}”`),
      el("span", { class: "small" }, ` (${evidence.generator} candidate, rank ${evidence.rank})`)),
    el("div", { class: "small" }, "passed: " + evidence.checks_passed.join("; ")),
    people,
  ];
  if (evidence.rejected_candidates.length) {
    parts.push(el("div", { class: "small" }, `other candidates for this clip and task that failed verification:`),
      el("ul", { class: "small" }, evidence.rejected_candidates.map((r) => el("li", {}, `${r.id}: ${r.reason} — ${r.detail}`))));
  }
  return parts;
}

async function show(id) {
  review.currentId = id;
  updatePosition();
  if (!id) return;
  const item = await apiGet("instance", { id });
  if (review.currentId !== id) return;
  showClip(item.clip, item.start, item.end);
  fill("meta", el("span", { class: "badge" }, `${item.task.short} · ${item.task_type}`),
    el("span", { class: "small" }, `source ${item.task.source} → target ${item.task.target} · referent `),
    el("b", { id: "referent" }, item.referent),
    el("span", { class: "small" }, ` · ${item.show} · ${item.split} · ${item.id}`));
  fill("question", item.question);
  fill("options", optionList(item.options, item.answer, null));
  fill("answer", el("b", {}, item.answer), " — ", item.options["ABCD".indexOf(item.answer)]);
  fill("rationale", item.rationale || "(none: test instances carry no rationale)");
  fill("biography", item.biography);
  fill("evidence", renderEvidence(item.evidence));
  renderDecision(item.decision);
}

async function decide(decision, reason = "") {
  if (!review.currentId) return;
  const id = review.currentId;
  try {
    const saved = await apiPost("decide", { id, decision, reason });
    review.instances.find((item) => item.id === id).decision = decision;
    setProgress(saved.progress);
    fill("status", `saved: ${id} ${decision === "accept" ? "accepted" : "rejected"}`);
    hideReason();
    await show(nextUnreviewed(id));
    if (review.currentId === id) renderDecision(saved.decision);
  } catch (error) {
    fill("status", el("span", { class: "error" }, `not saved: ${error.message}`));
  }
}

function askReason() {
  const input = document.getElementById("reason");
  input.hidden = false; input.value = ""; input.focus();
}

function hideReason() {
  const input = document.getElementById("reason");
  input.hidden = true; input.blur();
}

function move(step) {
  const shown = visible();
  if (!shown.length) return;
  const index = shown.findIndex((item) => item.id === review.currentId);
  const next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), shown.length - 1);
  show(shown[next].id);
}

function onFilter() {
  if (document.activeElement && document.activeElement.tagName === "SELECT") document.activeElement.blur(); // keys move again
  const shown = visible();
  show(shown.some((item) => item.id === review.currentId) ? review.currentId : nextUnreviewed(null));
}

async function start() {
  const state = await apiGet("state");
  review.instances = state.instances;
  document.title = state.title;
  fill("title", state.title);
  setProgress(state.progress);
  fill("notes", state.notes.join(" · "));
  fillSelect("f-task", state.tasks.map((t) => [t.name, `${t.short} ${t.name}`]), "all tasks");
  fillSelect("f-show", state.shows.map((s) => [s, s]), "all shows");
  for (const id of ["f-task", "f-show", "f-decision"]) document.getElementById(id).onchange = onFilter;
  document.getElementById("accept").onclick = () => decide("accept");
  document.getElementById("reject").onclick = askReason;
  document.getElementById("prev").onclick = () => move(-1);
  document.getElementById("next").onclick = () => move(1);
  const reason = document.getElementById("reason");
  reason.onkeydown = (event) => {
    if (event.key === "Enter" && reason.value.trim()) { event.preventDefault(); decide("reject", reason.value); }
    if (event.key === "Escape") { event.preventDefault(); hideReason(); }
  };
  document.addEventListener("keydown", (event) => {
    if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (key === "a") { event.preventDefault(); decide("accept"); }
    else if (key === "r") { event.preventDefault(); askReason(); }
    else if (key === "arrowright" || key === "j") { event.preventDefault(); move(1); }
    else if (key === "arrowleft" || key === "k") { event.preventDefault(); move(-1); }
    else if (key === "n") { event.preventDefault(); show(nextUnreviewed(review.currentId)); }
  });
  await show(nextUnreviewed(null)); // reopening resumes at the first unreviewed instance
}

start().catch((error) => fill("progress", el("span", { class: "error" }, `could not load: ${error.message}`)));
