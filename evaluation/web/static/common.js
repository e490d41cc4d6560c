"use strict";
// Shared by the review page and the run viewer: the JSON API, DOM building, the clip player.

async function apiGet(name, params = {}) {
  const response = await fetch(`/api/${name}?` + new URLSearchParams(params));
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || response.statusText);
  return payload;
}

async function apiPost(name, body) {
  const response = await fetch(`/api/${name}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || response.statusText);
  return payload;
}

// el("li", {class: "gold"}, "text", child): text is always set as text, never parsed as HTML.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value; else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined).map(
    (c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
  return node;
}

// Keys typed into a text field or an open select are not shortcuts; a ticked checkbox does not hold them.
function isTyping(event) {
  const target = event.target || {};
  const tag = target.tagName || "";
  if (tag === "INPUT") return !["checkbox", "radio", "button"].includes(target.type);
  return tag === "TEXTAREA" || tag === "SELECT";
}

// Load a clip into the <video>, mark [start, end] on the bar below it, and play that segment on request.
function showClip(clip, start, end) {
  const video = document.getElementById("video");
  const audio = document.getElementById("audio");
  const bar = document.getElementById("segment");
  const note = document.getElementById("clip-note");
  if (!clip || !clip.url) {
    video.removeAttribute("src"); video.load();
    note.replaceChildren(el("span", { class: "error" }, (clip && clip.missing) || "no clip for this item"));
    bar.replaceChildren();
    return;
  }
  const begin = start || 0;
  const length = () => video.duration || clip.duration || end || 1;
  const stop = () => end || length();
  video.src = `${clip.url}#t=${begin}` + (end ? `,${end}` : "");
  if (audio) {
    if (clip.audio_url) { audio.hidden = false; audio.src = clip.audio_url; } else { audio.hidden = true; audio.removeAttribute("src"); }
  }
  const span = el("div", { class: "span" });
  const head = el("div", { class: "head", style: "left:0" });
  bar.replaceChildren(span, head);
  const place = () => {
    const total = length();
    span.style.left = `${(100 * begin) / total}%`;
    span.style.width = `${(100 * (stop() - begin)) / total}%`;
    const text = `question segment ${begin.toFixed(1)}–${stop().toFixed(1)} s of the ${total.toFixed(1)} s clip`;
    bar.title = text;
    note.replaceChildren(text);
  };
  place();
  video.onloadedmetadata = place;
  video.ontimeupdate = () => {
    head.style.left = `${(100 * video.currentTime) / length()}%`;
    if (video.dataset.segmentOnly === "1" && video.currentTime >= stop()) { video.pause(); video.dataset.segmentOnly = "0"; }
  };
  document.getElementById("play-segment").onclick = () => {
    video.currentTime = begin; video.dataset.segmentOnly = "1"; video.play();
  };
}

function optionList(options, gold, picked) {
  return el("ol", { class: "options" }, options.map((text, index) => {
    const letter = "ABCDEFGHIJ"[index];
    const classes = [letter === gold ? "gold" : "", letter === picked ? "picked" : ""].join(" ").trim();
    const marks = [letter === gold ? " ✓ answer" : "", letter === picked ? " ← model" : ""].join("");
    return el("li", { class: classes || null, "data-letter": letter }, el("span", { class: "letter" }, letter), text,
      marks ? el("span", { class: "small" }, marks) : null);
  }));
}

function fillSelect(id, values, label) {
  const select = document.getElementById(id);
  select.replaceChildren(el("option", { value: "" }, label), ...values.map(([value, text]) => el("option", { value }, text)));
}
