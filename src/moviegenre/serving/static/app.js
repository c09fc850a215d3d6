// The page: pick or drop a poster, type a description, ask /predict for the bars and /explain for the why.
"use strict";

const $ = (id) => document.getElementById(id);
const HINT = $("drop-hint").innerHTML;
// run: the current run's controller. A run is void once the inputs change or another starts: its controller is
// aborted, which cancels its requests (the service then stops an explanation it began), and its answers are dropped.
const state = { file: null, genres: [], prediction: null, explanation: null, text: "", selected: null,
                previewUrl: null, run: new AbortController() };

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// A failed request becomes the service's one-line `detail` (or a plain reason when there is none). `signal`
// aborts it: its caller has dropped the answer, and an aborted request frees the service's model for others.
async function post(path, form, signal) {
  let response;
  try {
    response = await fetch(path, { method: "POST", body: form, signal });
  } catch (error) {
    throw new Error("cannot reach the service: " + error.message);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `the service answered ${response.status}`);
  return body;
}

// Disable `button` while a run is on its way; the function returned enables it again. A disabled button loses the
// focus: one pressed from the keyboard gets it back.
function disableWhileRunning(button) {
  const focused = document.activeElement === button;
  button.disabled = true;
  return () => {
    button.disabled = false;
    if (focused && document.activeElement === document.body) button.focus();
  };
}

// Results no longer describe the inputs: drop them, and any answer still on its way.
function inputsChanged() {
  state.run.abort();
  state.run = new AbortController();
  state.prediction = null;
  state.explanation = null;
  state.selected = null;
  showError("");  // it was about the old inputs
  $("bars").replaceChildren();
  $("results").hidden = true;
  $("why").hidden = true;
  $("words").replaceChildren();
  $("word-summary").textContent = "";
  $("status").textContent = "";
  $("predict").disabled = false;  // a run still pending is void: the new inputs can be sent at once
  showHeat(null);
}

function setPoster(file) {
  state.file = file;
  inputsChanged();
  $("stage").hidden = !file;
  $("drop-hint").hidden = !!file;
  $("clear-poster").hidden = !file;
  $("drop-hint").innerHTML = HINT;  // back from a "no preview" note
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = file ? URL.createObjectURL(file) : null;
  if (file) $("poster-preview").src = state.previewUrl;
  else $("poster-preview").removeAttribute("src");
}

// A file the browser cannot show is still sent: the service says what is wrong with it.
function previewFailed() {
  if (!state.file) return;
  $("stage").hidden = true;
  $("drop-hint").hidden = false;
  $("drop-hint").textContent = `${state.file.name}: no preview (is it an image?)`;
}

// The request for one run's inputs, as captured when it started (not the page's inputs now).
function form(inputs) {
  const data = new FormData();
  if (inputs.file) data.append("poster", inputs.file);
  if (inputs.text) data.append("description", inputs.text);
  if (inputs.title) data.append("title", inputs.title);
  return data;
}

// p with `digits` decimals, never rounded up onto its threshold t where it is below it (0.50 against a threshold of
// 0.50 reads as predicted), as the service rounds its probabilities.
function fixed(p, t, digits) {
  const limit = Number(t.toFixed(digits));
  return p < t && Number(p.toFixed(digits)) >= limit ? Math.max(limit - 10 ** -digits, 0).toFixed(digits)
    : p.toFixed(digits);
}

// One genre's bar in a list item: probability fill, threshold tick and value, and the same in words for a screen
// reader. A bar that can be chosen is a button (Tab, then Enter or Space; aria-pressed: its why is shown).
function barItem(genre, p, t, { on, button, intended = false }) {
  const bar = document.createElement(button ? "button" : "div");
  if (button) {
    bar.type = "button";
    bar.setAttribute("aria-pressed", "false");
  }
  bar.className = "bar" + (on ? " on" : "") + (intended ? " intended" : "");
  bar.dataset.genre = genre;
  bar.title = `${genre}: probability ${fixed(p, t, 3)}, threshold ${t.toFixed(3)}`;
  bar.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span>' +
                  '<span class="tick"></span></span><span class="value"></span><span class="visually-hidden"></span>';
  bar.querySelector(".name").textContent = genre;
  bar.querySelector(".fill").style.width = `${(p * 100).toFixed(1)}%`;
  bar.querySelector(".tick").style.left = `calc(${(t * 100).toFixed(1)}% - 1px)`;
  bar.querySelector(".value").textContent = fixed(p, t, 2);
  bar.querySelector(".visually-hidden").textContent =
    `${intended ? ", intended" : ""}, threshold ${t.toFixed(2)}, ${p >= t ? "above" : "below"} it`;
  const item = document.createElement("li");
  item.append(bar);
  return item;
}

function renderBars(prediction) {
  const bars = $("bars");
  bars.replaceChildren();
  for (const [genre, p] of Object.entries(prediction.probabilities)) {
    const on = prediction.genres.includes(genre);
    const item = barItem(genre, p, prediction.thresholds[genre], { on, button: true });
    item.firstChild.addEventListener("click", () => select(genre));
    bars.append(item);
  }
  $("results").hidden = false;
}

// The words' colours as text: the few that raise the genre most, and the few that lower it most.
function summariseWords(words, scores, genre) {
  const ranked = words.map((word, i) => ({ text: word.text, score: scores[i] }));
  const top = (sign) => ranked.filter((w) => sign * w.score > 0).sort((a, b) => sign * (b.score - a.score)).slice(0, 3)
    .map((w) => `${w.text} (${w.score >= 0 ? "+" : "−"}${Math.abs(w.score).toFixed(3)})`).join(", ");
  const up = top(1);
  const down = top(-1);
  return [up && `Words raising ${genre} most: ${up}.`, down && `Lowering it most: ${down}.`].filter(Boolean).join(" ");
}

function renderWords(genre) {
  const box = $("words");
  box.replaceChildren();
  const { words, word_scores: scores } = state.explanation;
  $("word-summary").textContent = "";
  if (!words.length || !scores[genre]) { $("why").hidden = !state.explanation.heatmaps[genre]; return; }
  // Scaled per genre so the strongest word is clearly coloured; small effects stay faint.
  const scale = Math.max(0.02, ...scores[genre].map(Math.abs));
  // Each word is found in the text from where the last one ended, not placed by its offsets: the service counts
  // code points in the text as it stripped it, JavaScript UTF-16 units in this one (an emoji or a BOM shifts them).
  let at = 0;
  words.forEach((word, i) => {
    const start = state.text.indexOf(word.text, at);
    if (start < 0) return;
    box.append(document.createTextNode(state.text.slice(at, start)));
    const span = document.createElement("span");
    const score = scores[genre][i];
    const alpha = Math.min(1, Math.abs(score) / scale) * 0.6;
    span.className = "word";
    span.textContent = word.text;
    span.dataset.score = score;
    span.title = `${score >= 0 ? "+" : ""}${score.toFixed(3)} to ${genre}`;
    span.style.background = score >= 0 ? `rgba(217, 72, 15, ${alpha})` : `rgba(28, 126, 214, ${alpha})`;
    box.append(span);
    at = start + word.text.length;
  });
  box.append(document.createTextNode(state.text.slice(at)));
  $("word-summary").textContent = summariseWords(words, scores[genre], genre);
  $("why").hidden = false;
}

// A heat map's text alternative: where the poster raises the genre most, as the service words it.
function heatAlt(poster, genre, hottest) {
  return hottest ? `heat map: ${poster} raises ${genre} most at ${hottest}`
    : `heat map: no region of ${poster} raises ${genre}`;
}

// The heat layer over the dimmed poster, with its colour scale below; none: the plain poster.
function showHeat(src, genre, hottest) {
  $("heat").hidden = !src;
  $("heat").alt = src ? heatAlt("the poster", genre, hottest) : "";
  $("heat-scale").hidden = !src;
  $("stage").classList.toggle("heated", !!src);
  if (src) $("heat").src = src;
}

function select(genre) {
  state.selected = genre;
  for (const bar of $("bars").querySelectorAll(".bar")) {
    bar.classList.toggle("selected", bar.dataset.genre === genre);
    bar.setAttribute("aria-pressed", String(bar.dataset.genre === genre));
  }
  const explanation = state.explanation;
  if (!explanation) return;
  const heat = explanation.heatmaps[genre];
  showHeat(heat, genre, explanation.hottest[genre]);
  $("why-title").textContent = `Why ${genre}?` + (heat ? " The hot regions of the poster raise it." : "");
  renderWords(genre);
}

async function run() {
  const inputs = { file: state.file, text: $("description").value.trim(), title: $("title").value.trim() };
  if (!inputs.file && !inputs.text) { showError("Give a poster, a description, or both."); return; }
  showError("");
  inputsChanged();  // a new run: the last one's results (and any answer still due to it) go
  const { signal } = state.run;
  state.text = inputs.text;
  const enable = disableWhileRunning($("predict"));
  try {
    const prediction = await post("/predict", form(inputs), signal);
    if (signal.aborted) return;
    state.prediction = prediction;
    renderBars(prediction);
    const said = `Above the threshold: ${prediction.genres.join(", ") || "no genre"}.`;
    $("status").textContent = `${said} Working out why…`;
    const data = form(inputs);  // exactly what /predict was sent
    data.append("top", String(Math.min(state.genres.length || 3, 50)));  // the service explains at most 50
    const explanation = await post("/explain", data, signal);
    if (signal.aborted) return;
    state.explanation = explanation;
    $("status").textContent = said;
    // A genre clicked while the explanation was on its way stays chosen.
    const chosen = state.selected in prediction.probabilities ? state.selected : null;
    select(chosen || prediction.genres[0] || Object.keys(prediction.probabilities)[0]);
  } catch (error) {
    if (signal.aborted) return;
    $("status").textContent = "";
    showError(error.message);
  } finally {
    if (!signal.aborted) enable();
  }
}

function init() {
  const drop = $("drop");
  $("poster-input").addEventListener("change", (event) => setPoster(event.target.files[0] || null));
  $("clear-poster").addEventListener("click", () => { $("poster-input").value = ""; setPoster(null); });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) setPoster(event.dataTransfer.files[0]);
  });
  $("description").addEventListener("input", () => {
    $("count").textContent = `${$("description").value.length} / 2000`;
    inputsChanged();
  });
  $("title").addEventListener("input", inputsChanged);
  $("poster-preview").addEventListener("error", previewFailed);
  $("predict").addEventListener("click", run);
  fetch("/model").then((r) => r.json()).then((info) => {
    state.genres = info.genres;
    $("model-info").textContent = `model ${info.name} · version ${info.version} · ${info.genres.length} genres`;
  }).catch(() => { $("model-info").textContent = "model information unavailable"; });
}

init();
