/* persona-iaa page: upload photos to POST /score in small requests, show them ranked, explain one with
   POST /explain. Plain JavaScript, no framework and nothing from the network but this server. */
"use strict";
(() => {
  const TRAITS = ["O", "C", "E", "A", "N"];
  const NAMES = { O: "Openness", C: "Conscientiousness", E: "Extraversion", A: "Agreeableness", N: "Neuroticism" };
  const PER_REQUEST = 8;      // photos per request: small requests share model calls on the server
  const PARALLEL = 3;         // requests in flight from this page
  const KEY_STORE = "persona-iaa-api-key";
  const PROFILE_STORE = "persona-iaa-profile";
  const SORT_LABELS = { score: "final score", aesthetic: "aesthetic score", personal: "your personal score" };
  const state = {
    info: null, items: [], nextId: 1, sortKey: "score", apiKey: sessionStorage.getItem(KEY_STORE) || "",
    queue: [], running: 0, paused: false, viewer: -1, viewerTarget: "photo", cards: new Map(),
    profile: null, profileVersion: 0, instruments: [],
  };
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const fixed = (v) => (v === null || v === undefined ? "–" : v.toFixed(3));
  const signed = (v) => (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(3);
  const megabytes = (bytes) => (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0) + " MB";
  const authHeaders = () => (state.apiKey ? { "X-API-Key": state.apiKey } : {});
  const hasTraits = () => !state.info || state.info.personality !== false;

  /* ---------- server info ---------- */
  async function loadInfo() {
    try {
      const response = await fetch("health");
      state.info = await response.json();
    } catch (err) {
      showWarning("The server does not answer: " + err.message);
      return;
    }
    const model = state.info.model || {};
    $("model-badge").textContent = "model: " + (model.backbone || "?") + (state.info.personality ? "" : " · no traits");
    if (state.info.warning) showWarning(state.info.warning);
    loadQuestionnaires();
    const saved = localStorage.getItem(PROFILE_STORE);
    if (saved) setProfile(saved, "your last profile");
  }

  function showWarning(text) {
    const box = $("warning");
    box.replaceChildren(el("strong", "", "Note: "), document.createTextNode(text));
    box.hidden = false;
  }

  /* ---------- adding photos ---------- */
  function addFiles(fileList) {
    const files = Array.from(fileList);
    if (!files.length) return;
    const limits = (state.info && state.info.limits) || {};
    for (const file of files) {
      const item = { id: state.nextId++, file, name: file.name, status: "pending", thumb: null, explain: null };
      state.items.push(item);
      if (limits.max_file_bytes && file.size > limits.max_file_bytes) {
        fail(item, `larger than this server's limit of ${megabytes(limits.max_file_bytes)} per photo`);
      } else {
        state.queue.push(item);
      }
      makeThumb(item);
    }
    $("dropzone").classList.add("compact");
    $("toolbar").hidden = false;
    updateProgress();
    render();
    pump();
  }

  async function makeThumb(item) {
    try {
      const bitmap = await createImageBitmap(item.file);
      const scale = Math.min(1, 520 / bitmap.width);
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
      item.thumb = URL.createObjectURL(blob);
    } catch (err) {
      item.thumb = "";  // the browser cannot show it (HEIC, TIFF, or not an image)
    }
    refreshCard(item);
  }

  function nextBatch() {
    const limits = (state.info && state.info.limits) || {};
    const maxFiles = Math.min(PER_REQUEST, limits.max_files || PER_REQUEST);
    const maxBytes = (limits.max_request_bytes || Infinity) * 0.95;
    const batch = [];
    let bytes = 0;
    while (state.queue.length && batch.length < maxFiles) {
      const size = state.queue[0].file.size;
      if (batch.length && bytes + size > maxBytes) break;
      bytes += size;
      batch.push(state.queue.shift());
    }
    return batch;
  }

  function pump() {
    while (!state.paused && state.running < PARALLEL && state.queue.length) {
      const batch = nextBatch();
      state.running += 1;
      send(batch).finally(() => {
        state.running -= 1;
        updateProgress();
        render();
        pump();
      });
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function send(batch) {
    const form = new FormData();
    for (const item of batch) form.append("files", item.file, item.name);
    const version = state.profileVersion;
    const withProfile = Boolean(state.profile);
    if (withProfile) form.append("profile", state.profile);
    let response;
    try {
      response = await fetch("score", { method: "POST", headers: authHeaders(), body: form });
    } catch (err) {
      batch.forEach((item) => fail(item, "the server did not answer (" + err.message + ")"));
      return;
    }
    if (response.status === 503) {  // queue full: wait as told, then try the same photos again
      const wait = Number(response.headers.get("Retry-After")) || 1;
      await sleep(wait * 1000);
      state.queue.unshift(...batch);
      return;
    }
    if (response.status === 401) {
      state.paused = true;
      state.queue.unshift(...batch);
      $("key-panel").hidden = false;
      $("api-key").focus();
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 400 && withProfile) {  // the profile was refused: rank for everyone again
      if (version === state.profileVersion) {
        tasteError(typeof body.detail === "string" ? body.detail : "the server refused this profile");
        forgetProfile();
      }
      state.queue.unshift(...batch.filter((item) => item.status === "pending" && !state.queue.includes(item)));
      return;
    }
    if (!response.ok) {
      const reason = typeof body.detail === "string" ? body.detail : "HTTP " + response.status;
      batch.forEach((item) => fail(item, "refused by the server: " + reason));
      return;
    }
    body.results.forEach((result, k) => {
      const item = batch[k];
      if (result.error) {
        fail(item, result.error);
      } else {
        item.status = "ok";
        item.score = result.score;
        item.aesthetic = result.aesthetic;
        item.traits = result.O === null || result.O === undefined ? null : Object.fromEntries(TRAITS.map((t) => [t, result[t]]));
        if (version !== state.profileVersion) {  // the profile changed while this was on its way
          if (state.profile && !state.queue.includes(item)) state.queue.push(item);
        } else {
          item.personal = typeof result.personal === "number" ? result.personal : null;
          item.rescoring = false;
        }
      }
    });
  }

  function fail(item, message) {
    item.status = "error";
    item.error = message;
  }

  /* ---------- progress and summary ---------- */
  function updateProgress() {
    const total = state.items.length;
    const rescoring = state.items.filter((i) => i.rescoring && i.status === "ok").length;
    const done = state.items.filter((i) => i.status !== "pending").length - rescoring;
    const failed = state.items.filter((i) => i.status === "error").length;
    $("progress").hidden = total === 0;
    $("progress-bar").style.width = total ? (100 * done / total).toFixed(1) + "%" : "0";
    $("status").textContent = rescoring
      ? `Ranking for your profile… ${rescoring} photo${rescoring === 1 ? "" : "s"} to go`
      : done < total
      ? `Scoring… ${done} of ${total} photos done` + (failed ? ` (${failed} could not be read)` : "")
      : `Done: ${total - failed} photo${total - failed === 1 ? "" : "s"} scored` + (failed ? `, ${failed} could not be read` : "") + ".";
    const scored = state.items.filter((i) => i.status === "ok" && typeof i[state.sortKey] === "number")
      .map((i) => i[state.sortKey]).sort((a, b) => a - b);
    $("summary").textContent = scored.length
      ? `best ${fixed(scored[scored.length - 1])} · median ${fixed(scored[Math.floor(scored.length / 2)])} · lowest ${fixed(scored[0])}`
      : "";
  }

  /* ---------- the grid ---------- */
  function ordered() {
    const key = state.sortKey;
    const value = (i) => (typeof i[key] === "number" ? i[key] : -Infinity);  // not yet scored for you: last
    const good = state.items.filter((i) => i.status === "ok").sort((a, b) => value(b) - value(a) || a.id - b.id);
    return good.concat(state.items.filter((i) => i.status === "error"));
  }

  function radar(traits, size) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
    svg.setAttribute("width", size);
    svg.setAttribute("height", size);
    svg.setAttribute("class", "radar");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "traits of likers: " + TRAITS.map((t) => `${t} ${signed(traits[t])}`).join(", "));
    const c = size / 2, R = size / 2 - 10;
    const point = (k, r) => {
      const a = -Math.PI / 2 + (2 * Math.PI * k) / TRAITS.length;
      return [c + r * Math.cos(a), c + r * Math.sin(a)];
    };
    const add = (tag, attrs) => {
      const node = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      svg.appendChild(node);
      return node;
    };
    for (const r of [R / 2, R]) add("polygon", { class: "ring", points: TRAITS.map((_, k) => point(k, r).join(",")).join(" ") });
    TRAITS.forEach((t, k) => {
      const [x, y] = point(k, R);
      add("line", { class: "axis", x1: c, y1: c, x2: x, y2: y });
      const [lx, ly] = point(k, R + 6.5);
      add("text", { x: lx, y: ly + 3, "text-anchor": "middle" }).textContent = t;
    });
    const shape = TRAITS.map((t, k) => point(k, ((traits[t] + 1) / 2) * R).join(",")).join(" ");
    add("polygon", { class: "shape", points: shape });
    return svg;
  }

  function buildCard(item) {
    const card = el("article", "card");
    card.tabIndex = 0;
    card.dataset.filename = item.name;
    card.addEventListener("click", () => item.status === "ok" && openViewer(item));
    card.addEventListener("keydown", (e) => { if (e.key === "Enter" && item.status === "ok") openViewer(item); });
    return card;
  }

  function refreshCard(item) {
    const card = state.cards.get(item.id);
    if (!card) return;
    card.replaceChildren();
    const thumb = el("div", "thumb");
    if (item.status === "error") {
      card.className = "card bad";
      thumb.append(el("span", "bad-icon", "⚠"), el("span", "bad-label", "could not be scored"));
      const body = el("div", "card-body");
      body.append(el("div", "card-name", item.name));
      card.append(thumb, body, el("p", "err", item.error));
      card.dataset.error = item.error;
      return;
    }
    card.className = "card";
    if (item.thumb) {
      const img = el("img");
      img.src = item.thumb;
      img.alt = item.name;
      img.loading = "lazy";
      thumb.append(img);
    } else if (item.thumb === "") {
      thumb.append(el("div", "noimg", "no preview in this browser"));
    }
    thumb.append(el("span", "rank-badge", "#" + card.dataset.rank));
    const bar = el("div", "scorebar");
    const fill = el("span");
    fill.style.width = Math.max(0, Math.min(1, item.aesthetic)) * 100 + "%";
    bar.append(fill);
    const scores = el("div", "card-scores");
    const main = item[state.sortKey];
    const sub = state.sortKey === "score" ? `aesthetic ${fixed(item.aesthetic)}` : `final ${fixed(item.score)}`;
    scores.append(el("div", "card-score", fixed(typeof main === "number" ? main : null)), el("div", "card-sub", sub));
    if (state.profile && state.sortKey !== "personal") {
      scores.append(el("div", "card-personal", "personal " + (item.rescoring ? "…" : fixed(item.personal))));
    }
    scores.append(el("div", "card-name", item.name));
    const body = el("div", "card-body");
    body.append(scores);
    if (item.traits) body.append(radar(item.traits, 66));
    card.append(thumb, bar, body);
    card.dataset.score = item.score;
    card.dataset.aesthetic = item.aesthetic;
    if (typeof item.personal === "number" && !item.rescoring) card.dataset.personal = item.personal;
    else delete card.dataset.personal;
  }

  function render() {
    const grid = $("grid");
    const items = ordered();
    items.forEach((item, k) => {
      let card = state.cards.get(item.id);
      if (!card) {
        card = buildCard(item);
        state.cards.set(item.id, card);
      }
      card.dataset.rank = item.status === "ok" ? String(k + 1) : "";
      refreshCard(item);
      grid.appendChild(card);  // moves an existing card into its new place
    });
    updateProgress();
  }

  function setSort(key) {
    state.sortKey = key;
    document.querySelectorAll(".seg").forEach((b) => b.classList.toggle("active", b.dataset.key === key));
    render();
  }

  /* ---------- CSV ---------- */
  function csvCell(value) {
    if (value === null || value === undefined) return "";
    let text = String(value);
    if (/^[=+\-@\t\r]/.test(text) && typeof value === "string") text = "'" + text;  // no spreadsheet formulas
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function downloadCsv() {
    const personal = Boolean(state.profile);  // the columns of `score --profile`: personal before error
    const rows = [["filename", "score", "aesthetic", ...TRAITS, ...(personal ? ["personal"] : []), "error"]];
    for (const item of ordered()) {
      const traits = TRAITS.map((t) => (item.traits ? item.traits[t] : null));
      const mine = personal ? [item.rescoring ? null : item.personal] : [];
      rows.push([item.name, item.score, item.aesthetic, ...traits, ...mine, item.error || null]);
    }
    const text = rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
    const link = el("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    link.download = "persona-iaa-scores.csv";
    document.body.append(link);
    link.click();
    link.remove();
  }

  /* ---------- the viewer ---------- */
  function openViewer(item) {
    const list = ordered().filter((i) => i.status === "ok");
    state.viewer = list.indexOf(item);
    state.viewerTarget = "photo";
    $("viewer").hidden = false;
    showViewer();
  }

  function closeViewer() {
    $("viewer").hidden = true;
    state.viewer = -1;
  }

  function step(delta) {
    const list = ordered().filter((i) => i.status === "ok");
    if (!list.length) return;
    state.viewer = (state.viewer + delta + list.length) % list.length;
    showViewer();
  }

  function currentItem() {
    return ordered().filter((i) => i.status === "ok")[state.viewer];
  }

  async function explainOf(item) {
    if (!item.explain) {
      const form = new FormData();
      form.append("file", item.file, item.name);
      item.explain = fetch("explain?format=json", { method: "POST", headers: authHeaders(), body: form })
        .then(async (response) => {
          const body = await response.json().catch(() => ({}));
          if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : "HTTP " + response.status);
          return body;
        });
      item.explain.catch(() => { item.explain = null; });
    }
    return item.explain;
  }

  function showViewer() {
    const item = currentItem();
    if (!item) return closeViewer();
    $("viewer-rank").textContent = `#${state.viewer + 1} by ${SORT_LABELS[state.sortKey]}`;
    $("viewer-title").textContent = item.name;
    $("viewer-score").textContent = fixed(item.score);
    $("viewer-aesthetic").textContent = fixed(item.aesthetic);
    showTraits(item);
    showMapButtons(item, null);
    showTarget(item);
  }

  function showTraits(item) {
    const box = $("viewer-traits");
    box.replaceChildren();
    if (!item.traits) {
      box.append(el("p", "traits-title", "This model was trained without the personality task: no trait predictions."));
      return;
    }
    box.append(el("p", "traits-title", "Predicted personality of the people who like it (−1 to +1)"));
    for (const t of TRAITS) {
      const row = el("div", "trait");
      row.dataset.trait = t;
      const track = el("div", "track");
      const fill = el("div", "fill");
      const v = Math.max(-1, Math.min(1, item.traits[t]));
      fill.style.left = (v < 0 ? 50 + v * 50 : 50) + "%";
      fill.style.width = Math.abs(v) * 50 + "%";
      track.append(fill);
      row.append(el("span", "", NAMES[t]), track, el("span", "val", signed(item.traits[t])));
      box.append(row);
    }
  }

  function showMapButtons(item, explained) {
    const box = $("map-buttons");
    box.replaceChildren();
    const targets = ["photo", "score"].concat(item.traits ? TRAITS : []);
    for (const target of targets) {
      const label = target === "photo" ? "Photo" : target === "score" ? "Final score" : NAMES[target];
      const button = el("button", target === state.viewerTarget ? "active" : "", label);
      button.type = "button";
      button.dataset.target = target;
      if (explained && explained.maps[target] && explained.maps[target].flat) {
        button.classList.add("flat");
        button.title = "flat map: no region raises it";
      }
      button.addEventListener("click", () => { state.viewerTarget = target; showTarget(item); });
      box.append(button);
    }
  }

  async function showTarget(item) {
    const image = $("viewer-image");
    const target = state.viewerTarget;
    document.querySelectorAll("#map-buttons button").forEach((b) => b.classList.toggle("active", b.dataset.target === target));
    $("legend").hidden = target === "photo";
    if (target === "photo") {
      image.src = item.thumbFull || (item.thumbFull = URL.createObjectURL(item.file));
      image.alt = item.name;
      image.dataset.target = "photo";
      $("map-note").textContent = "";
      return;
    }
    $("viewer-loading").hidden = false;
    let explained;
    try {
      explained = await explainOf(item);
    } catch (err) {
      $("viewer-loading").hidden = true;
      $("map-note").textContent = "Heat maps unavailable: " + err.message;
      return;
    }
    $("viewer-loading").hidden = true;
    if (currentItem() !== item || state.viewerTarget !== target) return;  // the user moved on meanwhile
    showMapButtons(item, explained);
    const map = explained.maps[target];
    $("legend-bar").style.background = `linear-gradient(90deg, ${explained.colour_scale.join(", ")})`;
    image.src = "data:image/png;base64," + map.png;
    image.alt = `${item.name}: Grad-CAM map of ${map.label}`;
    image.dataset.target = target;
    $("map-note").textContent = map.flat
      ? `Flat map: no region of this photo raises the ${map.label}; nothing is coloured.`
      : `Red marks the regions that raise the ${map.label} most, blue those with no effect. The dimmed margin is the part the model did not see.`;
  }

  /* ---------- your taste ---------- */
  async function loadQuestionnaires() {
    try {
      const response = await fetch("profile");
      state.instruments = (await response.json()).instruments || [];
    } catch (err) {
      state.instruments = [];
    }
    const select = $("instrument");
    select.replaceChildren(...state.instruments.map((tool) => {
      const option = el("option", "", `${tool.title} (answers ${tool.low}–${tool.high})`);
      option.value = tool.name;
      return option;
    }));
    renderQuiz();
  }

  function currentInstrument() {
    return state.instruments.find((tool) => tool.name === $("instrument").value) || state.instruments[0];
  }

  function renderQuiz() {
    const tool = currentInstrument();
    const box = $("quiz-items");
    box.replaceChildren();
    if (!tool) return;
    $("scale-note").textContent = `${tool.low} = disagree strongly … ${tool.high} = agree strongly`;
    $("items-note").textContent = `Answer items 1 to ${tool.items} of the ${tool.title} by their numbers: ` +
      tool.items_published + ".";
    $("citation").textContent = "Source: " + tool.citation;
    for (let k = 1; k <= tool.items; k++) {
      const row = el("div", "quiz-item");
      const choices = el("div", "choices");
      choices.setAttribute("role", "radiogroup");
      choices.setAttribute("aria-label", `item ${k}`);
      for (let v = tool.low; v <= tool.high; v++) {
        const label = el("label");
        const input = el("input");
        Object.assign(input, { type: "radio", name: `item-${k}`, value: String(v) });
        label.append(input, el("span", "", String(v)));
        choices.append(label);
      }
      row.append(el("span", "label", `Item ${k}`), choices);
      box.append(row);
    }
  }

  async function submitQuiz(event) {
    event.preventDefault();
    const tool = currentInstrument();
    if (!tool) return;
    const answers = [];
    for (let k = 1; k <= tool.items; k++) {
      const checked = document.querySelector(`input[name="item-${k}"]:checked`);
      if (!checked) return tasteError(`answer item ${k} first`);
      answers.push(Number(checked.value));
    }
    let body;
    try {
      const response = await fetch("profile", {
        method: "POST", headers: { "Content-Type": "application/json", ...authHeaders() },
        body: JSON.stringify({ instrument: tool.name, answers }),
      });
      body = await response.json();
      if (!response.ok) return tasteError(typeof body.detail === "string" ? body.detail : "HTTP " + response.status);
    } catch (err) {
      return tasteError("the server did not answer (" + err.message + ")");
    }
    setProfile(JSON.stringify(body), `your ${tool.title} answers`);
  }

  function tasteError(message) {
    $("taste-error").textContent = message;
    $("taste-error").hidden = !message;
    if (message) $("taste").open = true;  // the reason shows where the profile was given
  }

  function showProfileSummary(profile, origin) {
    const box = $("profile-summary");
    box.replaceChildren(el("div", "row", ""));
    box.firstChild.append(el("strong", "", origin),
      el("span", "muted", profile.weights ? "fitted weights" : (profile.instrument || "traits")));
    if (profile.traits) {
      const traits = el("div", "row muted", TRAITS.map((t) => `${t} ${signed(profile.traits[t])}`).join("  ·  "));
      box.append(traits);
    }
    box.hidden = false;
    $("profile-forget").hidden = false;
    $("taste-state").textContent = "ranking for " + origin;
    $("taste").classList.add("active");
  }

  function setProfile(text, origin) {
    let profile;
    try {
      profile = JSON.parse(text);
    } catch (err) {
      return tasteError(`${origin}: not JSON`);
    }
    tasteError("");
    state.profile = text;
    state.profileVersion += 1;
    localStorage.setItem(PROFILE_STORE, text);
    showProfileSummary(profile, origin);
    $("sort-personal").hidden = false;
    for (const item of state.items) {  // every scored photo is sent again, with the profile
      if (item.status !== "ok") continue;
      item.personal = null;
      item.rescoring = true;
      if (!state.queue.includes(item)) state.queue.push(item);
    }
    setSort("personal");
    if (state.items.length) $("taste").open = false;  // make room for the re-ranked grid
    pump();
  }

  function forgetProfile() {
    state.profile = null;
    state.profileVersion += 1;
    localStorage.removeItem(PROFILE_STORE);
    for (const item of state.items) {
      item.personal = null;
      item.rescoring = false;
    }
    state.queue = state.queue.filter((item) => item.status === "pending");
    $("profile-summary").hidden = true;
    $("profile-forget").hidden = true;
    $("sort-personal").hidden = true;
    $("taste-state").textContent = "no profile: photos are ranked for everyone";
    $("taste").classList.remove("active");
    setSort(state.sortKey === "personal" ? "score" : state.sortKey);
  }

  async function loadProfileFile(file) {
    if (!file) return;
    setProfile(await file.text(), file.name);
  }

  /* ---------- wiring ---------- */
  function wire() {
    const zone = $("dropzone");
    const input = $("file-input");
    $("choose").addEventListener("click", (e) => { e.stopPropagation(); input.click(); });
    zone.addEventListener("click", () => input.click());
    zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
    input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
    ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
    zone.addEventListener("drop", (e) => addFiles(e.dataTransfer.files));
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => { e.preventDefault(); if (!zone.contains(e.target)) addFiles(e.dataTransfer.files); });
    document.querySelectorAll(".seg").forEach((b) => b.addEventListener("click", () => setSort(b.dataset.key)));
    $("download").addEventListener("click", downloadCsv);
    $("instrument").addEventListener("change", renderQuiz);
    $("quiz").addEventListener("submit", submitQuiz);
    $("profile-load").addEventListener("click", () => $("profile-input").click());
    $("profile-input").addEventListener("change", () => {
      loadProfileFile($("profile-input").files[0]);
      $("profile-input").value = "";
    });
    $("profile-forget").addEventListener("click", () => { tasteError(""); forgetProfile(); });
    $("clear").addEventListener("click", () => {
      state.items = []; state.queue = []; state.cards.clear();
      $("grid").replaceChildren();
      $("toolbar").hidden = true;
      $("dropzone").classList.remove("compact");
      updateProgress();
    });
    $("key-save").addEventListener("click", () => {
      state.apiKey = $("api-key").value.trim();
      sessionStorage.setItem(KEY_STORE, state.apiKey);
      $("key-panel").hidden = true;
      state.paused = false;
      pump();
    });
    document.querySelectorAll("[data-close]").forEach((n) => n.addEventListener("click", closeViewer));
    $("viewer-prev").addEventListener("click", () => step(-1));
    $("viewer-next").addEventListener("click", () => step(1));
    document.addEventListener("keydown", (e) => {
      if (state.viewer < 0) return;
      if (e.key === "Escape") closeViewer();
      if (e.key === "ArrowLeft") step(-1);
      if (e.key === "ArrowRight") step(1);
    });
  }

  wire();
  loadInfo();
})();
