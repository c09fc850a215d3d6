// Compare mode: several poster variants, the intended genres ticked; /compare ranks them, then /explain draws
// each variant's heat map for the intended genre. Uses `$`, `post`, `barItem`, `heatAlt` and `disableWhileRunning`
// from app.js (loaded first).
"use strict";

// files: as picked; posters: the file of each variant of the last result; heat: variant index -> its /explain answer
// (heatmaps and hottest, per genre);
// urls: the blob URLs of the cards shown (revoked when they are replaced); run: the comparison's controller, aborted
// when the inputs change or another starts (its requests cancelled, its answers dropped), as app.js's state.run
const compare = { files: [], posters: [], result: null, heat: {}, urls: [], run: new AbortController() };

// The shown comparison is of other inputs once the posters, the description or the intended genres change.
function compareInputsChanged() {
  compare.run.abort();
  compare.run = new AbortController();
  compare.result = null;  // explainAll stops drawing for it
  for (const url of compare.urls.splice(0)) URL.revokeObjectURL(url);
  $("variants").replaceChildren();
  $("compare-skipped").replaceChildren();
  $("compare-results").hidden = true;
  $("compare-status").textContent = "";
  $("compare-run").disabled = false;
  compareError("");
}

function setMode(mode) {
  $("single").hidden = mode !== "single";
  $("compare").hidden = mode !== "compare";
  $("mode-single").classList.toggle("on", mode === "single");
  $("mode-compare").classList.toggle("on", mode === "compare");
  $("mode-single").setAttribute("aria-pressed", String(mode === "single"));
  $("mode-compare").setAttribute("aria-pressed", String(mode === "compare"));
  history.replaceState(null, "", mode === "compare" ? "#compare" : "#");
}

function addFiles(list) {
  compare.files.push(...Array.from(list));
  compareInputsChanged();
  const box = $("compare-files");
  box.replaceChildren(...compare.files.map((file, i) => {
    const item = document.createElement("li");
    item.textContent = file.name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = "×";
    remove.title = `remove ${file.name}`;
    remove.setAttribute("aria-label", `remove ${file.name}`);
    remove.addEventListener("click", () => {
      compare.files.splice(i, 1);
      addFiles([]);
      // The list was drawn again: the focus goes to the next file's remove button (or the picker), not the page.
      const buttons = $("compare-files").querySelectorAll("button");
      (buttons[Math.min(i, buttons.length - 1)] || $("compare-input")).focus();
    });
    item.append(" ", remove);
    return item;
  }));
  const n = compare.files.length;
  $("compare-count").textContent = n ? `${n} poster${n === 1 ? "" : "s"}` : "no posters yet";
}

function intended() {
  return Array.from(document.querySelectorAll("#genre-picks input:checked"), (box) => box.value);
}

// One bar per shown genre (app.js's barItem), intended genres first: theirs are buttons (pressed: its heat map).
function bars(variant, result, shown) {
  const list = document.createElement("ol");
  list.className = "bars";
  for (const genre of shown) {
    const intended = result.intended.includes(genre);
    list.append(barItem(genre, variant.probabilities[genre], result.thresholds[genre],
                        { on: variant.genres.includes(genre), button: intended, intended }));
  }
  return list;
}

function card(result, index, place) {
  const variant = result.variants[index];
  const item = document.createElement("li");
  item.className = "variant";
  item.dataset.index = index;
  const head = document.createElement("p");
  head.className = "head";
  const score = result.scores ? ` · score ${result.scores[index] >= 0 ? "+" : ""}${result.scores[index].toFixed(3)}` : "";
  head.textContent = `#${place} ${variant.poster}${score}`;
  const stage = Object.assign(document.createElement("span"), { className: "stage" });
  const file = compare.posters[index];
  const poster = Object.assign(document.createElement("img"), { className: "poster", alt: variant.poster });
  if (file) {
    poster.src = URL.createObjectURL(file);
    compare.urls.push(poster.src);
  }
  const heat = Object.assign(document.createElement("img"), { className: "heat", alt: "", hidden: true });
  stage.append(poster, heat);
  const others = Object.keys(variant.probabilities).filter((g) => !result.intended.includes(g));
  const shown = [...result.intended, ...others.slice(0, Math.max(2, 5 - result.intended.length))];
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = variant.strongest_unintended
    ? `strongest other genre: ${variant.strongest_unintended} ${variant.probabilities[variant.strongest_unintended].toFixed(2)}`
    : `says: ${variant.genres.join(", ") || "no genre above its threshold"}`;
  const missing = Object.assign(document.createElement("p"), { className: "note heat-note", hidden: true });
  item.append(head, stage, bars(variant, result, shown), note, missing);
  for (const bar of item.querySelectorAll("button.bar")) {
    bar.addEventListener("click", () => {
      item.dataset.pick = bar.dataset.genre;  // kept when its heat maps arrive
      showVariantHeat(item, bar.dataset.genre);
    });
  }
  return item;
}

function showVariantHeat(item, genre) {
  const { heatmaps: maps, hottest } = compare.heat[item.dataset.index] || { heatmaps: {}, hottest: {} };
  const heat = item.querySelector(".heat");
  heat.hidden = !maps[genre];
  heat.alt = maps[genre] ? heatAlt(item.querySelector("img.poster").alt, genre, hottest[genre]) : "";
  if (maps[genre]) heat.src = maps[genre];
  for (const bar of item.querySelectorAll(".bar")) {
    bar.classList.toggle("selected", bar.dataset.genre === genre);
    if (bar.tagName === "BUTTON") bar.setAttribute("aria-pressed", String(bar.dataset.genre === genre));
  }
  item.dataset.heat = maps[genre] ? genre : "";
}

// Heat maps one variant at a time, best first (each is 49-81 occluded posters on the server).
async function explainAll(result, description, signal) {
  let done = 0;
  for (const index of result.ranking) {
    if (compare.result !== result) return;
    const file = compare.posters[index];
    if (!file) {  // said, not silent
      const note = document.querySelector(`.variant[data-index="${index}"] .heat-note`);
      if (note) Object.assign(note, { textContent: "no heat map: its file was not found on this page", hidden: false });
      continue;
    }
    $("compare-status").textContent = `Drawing heat maps for ${result.intended.join(", ")}… ${done}/${result.ranking.length}`;
    const data = new FormData();
    data.append("poster", file);
    if (description) data.append("description", description);
    for (const genre of result.intended) data.append("genre", genre);
    let failure = "";
    let explained = { heatmaps: {}, hottest: {} };
    try {
      explained = await post("/explain", data, signal);
    } catch (error) {
      failure = error.message;
    }
    if (compare.result !== result) return;  // a newer comparison replaced this one
    compare.heat[index] = explained;
    const item = document.querySelector(`.variant[data-index="${index}"]`);
    if (item) {
      const note = item.querySelector(".heat-note");
      note.textContent = failure ? `no heat map: ${failure}` : "";
      note.hidden = !failure;
      showVariantHeat(item, item.dataset.pick || result.intended[0]);
    }
    done += 1;
  }
  if (compare.result === result) $("compare-status").textContent = ranked(result);
}

// The ranking in words, for the status line (read out by screen readers).
function ranked(result) {
  const best = result.variants[result.ranking[0]];
  return best ? `${result.ranking.length} variants ranked; best: ${best.poster}.` : "No variant could be ranked.";
}

// Each variant names its file's place among the posters sent (`poster_index`): names may repeat, and the service
// writes them as the browser sent them (Chromium: " as %22), so they cannot pair a variant with its file.
function variantFiles(result, files) {
  return result.variants.map((variant) => files[variant.poster_index] || null);
}

function compareError(message) {
  $("compare-error").textContent = message;
  $("compare-error").hidden = !message;
}

async function runCompare() {
  const description = $("compare-description").value.trim();
  if (compare.files.length < 2) { compareError("Add two or more poster variants."); return; }
  compareInputsChanged();
  const { signal } = compare.run;
  const files = [...compare.files];
  const data = new FormData();
  for (const file of files) data.append("posters", file);
  if (description) data.append("description", description);
  for (const genre of intended()) data.append("genre", genre);
  const enable = disableWhileRunning($("compare-run"));
  compare.heat = {};
  try {
    const result = await post("/compare", data, signal);
    if (signal.aborted) return;  // the inputs changed while it was asked
    compare.result = result;
    compare.posters = variantFiles(result, files);
    for (const url of compare.urls.splice(0)) URL.revokeObjectURL(url);
    $("compare-how").textContent = result.intended.length
      ? `for ${result.intended.join(", ")}: mean (probability − threshold) of the intended genres, minus the strongest other genre's`
      : "tick intended genres to rank them; bar = probability, tick = threshold";
    $("variants").replaceChildren(...result.ranking.map((index, place) => card(result, index, place + 1)));
    $("compare-skipped").replaceChildren(...result.errors.map((error) =>
      Object.assign(document.createElement("li"), { className: "error", textContent: error.error })));
    $("compare-results").hidden = false;
    $("compare-status").textContent = ranked(result);
    if (result.intended.length) await explainAll(result, description, signal);
  } catch (error) {
    if (!signal.aborted) compareError(error.message);
  } finally {
    if (!signal.aborted) enable();
  }
}

function initCompare() {
  $("mode-single").addEventListener("click", () => setMode("single"));
  $("mode-compare").addEventListener("click", () => setMode("compare"));
  $("compare-input").addEventListener("change", (event) => { addFiles(event.target.files); event.target.value = ""; });
  const drop = $("compare-drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => { event.preventDefault(); addFiles(event.dataTransfer.files); });
  $("compare-run").addEventListener("click", runCompare);
  $("compare-description").addEventListener("input", compareInputsChanged);
  $("genre-picks").addEventListener("change", compareInputsChanged);
  fetch("/model").then((r) => r.json()).then((info) => {
    $("genre-picks").replaceChildren(...info.genres.map((genre) => {
      const label = document.createElement("label");
      const box = Object.assign(document.createElement("input"), { type: "checkbox", value: genre });
      label.append(box, ` ${genre}`);
      return label;
    }));
  }).catch(() => compareError("model information unavailable"));
  const fromHash = () => setMode(location.hash === "#compare" ? "compare" : "single");
  window.addEventListener("hashchange", fromHash);
  if (location.hash === "#compare") fromHash();
}

initCompare();
