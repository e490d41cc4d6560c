"use strict";
// The run viewer: the run's table and plots, then one prediction at a time with filters.

const run = { items: [], currentId: null };

function visible() {
  const wrong = document.getElementById("f-wrong").checked;
  const unparsed = document.getElementById("f-unparsed").checked;
  const task = document.getElementById("f-task").value;
  return run.items.filter((item) =>
    (!wrong || !item.correct) && (!unparsed || !item.parsed) && (!task || item.task_type === task));
}

function updatePosition() {
  const shown = visible();
  const index = shown.findIndex((item) => item.id === run.currentId);
  fill("position", shown.length ? `${index + 1} of ${shown.length} shown` : "nothing matches the filters");
}

async function show(id) {
  run.currentId = id;
  updatePosition();
  if (!id) { fill("question", ""); fill("options"); fill("raw-output", ""); fill("extracted"); fill("meta"); return; }
  const item = await apiGet("item", { id });
  if (run.currentId !== id) return;
  showClip(item.clip, item.start, item.end);
  fill("meta",
    el("span", { class: item.correct ? "badge ok" : "badge bad", id: "verdict" }, item.correct ? "correct" : "wrong"),
    el("span", { class: "badge" }, item.task ? `${item.task.short} · ${item.task_type}` : item.task_type),
    el("span", { class: "small" }, `${item.clip_id} · ${item.id}`));
  fill("question", item.question);
  fill("options", optionList(item.options, item.answer, item.extracted));
  fill("raw-output", item.raw_output);
  fill("extracted", item.extracted
    ? [el("b", {}, item.extracted), ` (answer ${item.answer})`]
    : [el("span", { class: "error" }, "no letter could be read (parse failure: counted wrong)"), ` (answer ${item.answer})`]);
  fill("biography", item.biography || "");
}

function move(step) {
  const shown = visible();
  if (!shown.length) return;
  const index = shown.findIndex((item) => item.id === run.currentId);
  show(shown[index < 0 ? 0 : Math.min(Math.max(index + step, 0), shown.length - 1)].id);
}

function onFilter() {
  if (document.activeElement && document.activeElement.tagName === "SELECT") document.activeElement.blur(); // keys move again
  const shown = visible();
  show(shown.some((item) => item.id === run.currentId) ? run.currentId : (shown[0] || {}).id || null);
}

// Plots at a readable width (never wider than drawn); a click shows one at its full size.
function showPlots(urls) {
  const box = document.getElementById("plots-box");
  box.hidden = urls.length === 0;
  box.open = localStorage.getItem("crossomni-plots") !== "closed"; // a reader who folded them away keeps them so
  box.ontoggle = () => localStorage.setItem("crossomni-plots", box.open ? "open" : "closed");
  const dialog = document.getElementById("plot-view");
  const full = document.getElementById("plot-full");
  dialog.onclick = () => dialog.close();
  fill("plots", urls.map((url) => {
    const name = url.split("/").pop();
    const img = el("img", { src: url, alt: name, title: `${name}: click to enlarge` });
    img.onload = () => { img.style.maxWidth = `${img.naturalWidth}px`; };
    img.onclick = () => {
      full.src = url; full.alt = name;
      full.style.width = `${img.naturalWidth}px`; // the drawn size: larger than the page shows it
      dialog.showModal();
    };
    return img;
  }));
}

async function start() {
  const state = await apiGet("state");
  run.items = state.items;
  document.title = state.title;
  fill("title", state.title);
  fill("summary", state.summary);
  fill("metrics", el("table", { id: "metrics-table" },
    el("tr", {}, state.table.header.map((cell) => el("th", {}, cell))),
    state.table.rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell))))));
  showPlots(state.plots);
  fill("notes", state.notes.join(" · "));
  fillSelect("f-task", state.tasks.map((t) => [t, t]), "all tasks");
  for (const id of ["f-wrong", "f-unparsed", "f-task"]) document.getElementById(id).onchange = onFilter;
  document.getElementById("prev").onclick = () => move(-1);
  document.getElementById("next").onclick = () => move(1);
  document.addEventListener("keydown", (event) => {
    if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.getElementById("plot-view").open) return; // Esc closes it; other keys wait
    const key = event.key.toLowerCase();
    if (key === "arrowright" || key === "j") { event.preventDefault(); move(1); }
    else if (key === "arrowleft" || key === "k") { event.preventDefault(); move(-1); }
    else if (key === "w" || key === "p") {
      const box = document.getElementById(key === "w" ? "f-wrong" : "f-unparsed");
      box.checked = !box.checked; onFilter();
    }
  });
  await show(run.items.length ? run.items[0].id : null);
}

start().catch((error) => fill("summary", el("span", { class: "error" }, `could not load: ${error.message}`)));
