// unetkit serve page: plain JavaScript, no libraries, nothing loaded from other hosts.
// Every request carries the token (if any) in the Authorization header, so images are fetched as blobs
// and shown through object URLs instead of plain <img src> links.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { token: sessionStorage.getItem("unetkit-token") || "", model: null, queue: [], active: 0 };
const MAX_PARALLEL = 2;   // uploads in flight from this page; the server has its own queue
const MAX_RETRIES = 3;    // on 503 (server busy), after the Retry-After delay

function authHeaders() {
  return state.token ? { Authorization: "Bearer " + state.token } : {};
}

function showMessage(text) {
  const el = $("#message");
  el.textContent = text || "";
  el.hidden = !text;
}

function percent(fraction) {
  return (100 * fraction).toFixed(2) + " %";
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    return JSON.stringify(body.detail || body);
  } catch (err) {
    return response.statusText || "request failed";
  }
}

async function apiFetch(path, options = {}) {
  const headers = Object.assign({}, options.headers || {}, authHeaders());
  return fetch(path, Object.assign({}, options, { headers }));
}

async function loadModel() {
  const response = await apiFetch("api/model");
  if (response.status === 401) {
    $("#token-form").hidden = false;
    $("#model-info").textContent = "token needed";
    return;
  }
  if (!response.ok) {
    showMessage("Cannot load the model description: " + (await errorText(response)));
    return;
  }
  $("#token-form").hidden = true;
  const model = await response.json();
  state.model = model;
  const names = model.classes.map((c) => c.name).join(", ");
  $("#model-info").textContent =
    `${model.architecture} · ${model.in_channels}-channel input · classes: ${names} · ` +
    `backend ${engineText(model)} on ${model.device}`;
  if (model.instances) showInstanceChoices(model.instances);
  // A Mask R-CNN takes no test-time augmentation and has a score threshold (as `unetkit predict`).
  const detector = isDetector(model);
  $("#tta-option").hidden = detector;
  $("#score-option").hidden = !detector;
  // The model's own threshold (chosen on validation images by fit-maskrcnn) until the user changes it.
  const chosen = detector && model.instances.params ? model.instances.params.score_threshold : null;
  if (chosen != null) $("#score-threshold").value = String(chosen);
  const mb = (model.limits.max_upload_bytes / 1048576).toFixed(0);
  const mp = (model.limits.max_pixels / 1e6).toFixed(1);
  $("#limits").textContent = `PNG, JPEG, TIFF or BMP · up to ${mb} MiB and ${mp} megapixels each`;
}

// The engine that runs (with --backend auto, the one auto chose), its precision where known.
function engineText(model) {
  let text = model.backend + (model.precision ? ` ${model.precision}` : "");
  if (model.backend_requested && model.backend_requested !== model.backend) {
    text += ` (chosen by ${model.backend_requested})`;
  }
  return text;
}

function isDetector(model) {
  return Boolean(model && model.instances && model.instances.auto === "maskrcnn");
}

const INSTANCE_LABELS = {
  maskrcnn: "Mask R-CNN detections",
  none: "none",
  components: "connected components",
  watershed: "watershed (split touching)",
  boundary: "boundary (interior seeds)",
  energy: "energy levels (deep watershed)",
};

function showInstanceChoices(info) {
  // The methods this model takes (GET /api/model). auto is the model's own method, as
  // `unetkit predict --instances auto`; it is the default when the model records one (fit --target ...),
  // else connected components stay the default (auto would give the same, named less plainly).
  const select = $("#instances");
  select.textContent = "";
  // A Mask R-CNN's instances are its prediction (given even with none): its menu has no none.
  const names = info.choices.filter((name) => name !== "none");
  if (info.auto !== "maskrcnn") names.push("none");
  for (const name of names) {
    const option = document.createElement("option");
    option.value = name;
    if (name === "auto") {
      option.textContent = info.auto ? `the model's own (${info.auto})` : "the model's own (unusable: see the error)";
    } else {
      option.textContent = INSTANCE_LABELS[name] || name;
    }
    select.append(option);
  }
  select.value = info.own ? "auto" : "components";
  if (!select.value) select.selectedIndex = 0;
}

// ------------------------------------------------------------------------------------------ uploads

function addFiles(fileList) {
  showMessage("");
  for (const file of fileList) {
    const card = $("#result-template").content.firstElementChild.cloneNode(true);
    $(".name", card).textContent = file.name;
    setStatus(card, "queued", "waiting");
    $("#results").prepend(card);
    state.queue.push({ file, card });
  }
  pump();
}

function pump() {
  while (state.active < MAX_PARALLEL && state.queue.length) {
    const item = state.queue.shift();
    state.active += 1;
    process(item).finally(() => {
      state.active -= 1;
      pump();
    });
  }
}

function setStatus(card, stateName, text, progress) {
  card.dataset.state = stateName;
  $(".status", card).textContent = text;
  const bar = $(".progress", card);
  if (progress === undefined) bar.removeAttribute("value");
  else bar.value = progress;
}

function fail(card, text) {
  setStatus(card, "error", "failed");
  const el = $(".error", card);
  el.textContent = text;
  el.hidden = false;
}

function upload(file, card) {
  // XMLHttpRequest rather than fetch: it reports upload progress.
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("file", file, file.name);
    if (isDetector(state.model)) form.append("score_threshold", $("#score-threshold").value);
    else form.append("tta", $("#tta").value);
    form.append("instances", $("#instances").value);
    form.append("alpha", String($("#opacity").value / 100));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "api/predict");
    for (const [key, value] of Object.entries(authHeaders())) xhr.setRequestHeader(key, value);
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) {
        setStatus(card, "uploading", `uploading ${Math.round((100 * event.loaded) / event.total)} %`,
          (100 * event.loaded) / event.total);
      }
    };
    xhr.upload.onload = () => setStatus(card, "working", "segmenting…");
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.response,
                                 retryAfter: Number(xhr.getResponseHeader("Retry-After") || 0) });
    xhr.onerror = () => resolve({ status: 0, body: { detail: "network error: is the server running?" } });
    xhr.send(form);
  });
}

async function process({ file, card }) {
  let reply;
  for (let attempt = 0; ; attempt++) {
    setStatus(card, "uploading", "uploading", 0);
    reply = await upload(file, card);
    if (reply.status !== 503 || attempt >= MAX_RETRIES) break;
    const wait = Math.max(1, reply.retryAfter || 1);
    setStatus(card, "waiting", `server busy, retrying in ${wait} s`);
    await new Promise((r) => setTimeout(r, wait * 1000));
  }
  if (reply.status !== 200) {
    const detail = reply.body && reply.body.detail ? reply.body.detail : "request failed";
    fail(card, `${reply.status || "error"}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    if (reply.status === 401) $("#token-form").hidden = false;
    return;
  }
  try {
    setStatus(card, "loading", "loading results…");
    await showResult(card, reply.body);
    const t = reply.body.timing_ms;
    setStatus(card, "done", `${reply.body.width}×${reply.body.height} · ${(t.total / 1000).toFixed(2)} s`, 100);
  } catch (err) {
    fail(card, "could not show the result: " + err.message);
  }
}

async function blobUrl(link) {
  const response = await apiFetch(link);
  if (!response.ok) throw new Error(await errorText(response));
  return URL.createObjectURL(await response.blob());
}

function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot decode " + url));
    img.src = url;
  });
}

function tintFromMask(canvas, maskImg) {
  // The mask PNG shows class colours with class 0 black; make class 0 transparent so the canvas, drawn
  // over the input with CSS opacity a, gives (1 - a) * input + a * colour like the server's overlay.
  canvas.width = maskImg.naturalWidth;
  canvas.height = maskImg.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(maskImg, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i] === 0 && px[i + 1] === 0 && px[i + 2] === 0) px[i + 3] = 0;
  }
  ctx.putImageData(data, 0, 0);
}

async function showResult(card, result) {
  card.dataset.resultId = result.id;
  const [inputUrl, maskUrl] = await Promise.all([blobUrl(result.links.input), blobUrl(result.links.mask)]);
  $(".panels", card).hidden = false;
  await Promise.all([
    loadImage($("img.input", card), inputUrl),
    loadImage($("img.overlay-base", card), inputUrl),
    loadImage($("img.mask", card), maskUrl),
  ]);
  const canvas = $("canvas.tint", card);
  tintFromMask(canvas, $("img.mask", card));
  canvas.style.opacity = $("#opacity").value / 100;
  canvas.dataset.ready = "true";

  const body = $(".legend tbody", card);
  body.textContent = "";
  for (const cls of result.classes) {
    const row = document.createElement("tr");
    row.className = "class-row";
    row.dataset.index = cls.index;
    row.dataset.fraction = cls.fraction;
    const name = document.createElement("td");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = cls.color;
    name.append(swatch, cls.name);
    const area = document.createElement("td");
    area.className = "num area";
    area.textContent = percent(cls.fraction);
    const pixels = document.createElement("td");
    pixels.className = "num";
    pixels.textContent = cls.pixels.toLocaleString("en");
    row.append(name, area, pixels);
    body.append(row);
  }
  const parts = [];
  if (result.instances) {
    const how = result.options.instances === "auto" ? `auto: ${result.instances.method}` : result.instances.method;
    parts.push(`<strong class="instance-count">${result.instances.count}</strong> instances (${how})`);
  }
  parts.push(`prediction ${(result.timing_ms.predict / 1000).toFixed(2)} s`);
  if (result.tta && result.tta !== "none") parts.push(`TTA ${result.tta}`);
  $(".summary", card).innerHTML = parts.join(" · ");

  const downloads = $(".downloads", card);
  downloads.textContent = "";
  const stem = result.filename.replace(/\.[^.]*$/, "") || "image";
  const labels = { mask: "Mask PNG", overlay: "Overlay PNG", instances: "Instances PNG", probs: "Probabilities" };
  for (const kind of ["mask", "overlay", "instances", "probs"]) {
    if (!result.links[kind]) continue;
    const a = document.createElement("a");
    a.href = "#";
    a.className = "download-" + kind;
    a.textContent = labels[kind];
    a.addEventListener("click", async (event) => {
      event.preventDefault();
      let link = result.links[kind];
      if (kind === "overlay") link += "?alpha=" + $("#opacity").value / 100;
      try {
        const url = await blobUrl(link);
        const save = document.createElement("a");
        save.href = url;
        save.download = `${stem}_${link.split("/").pop().split("?")[0]}`;
        document.body.append(save);
        save.click();
        save.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (err) {
        showMessage("Download failed: " + err.message);
      }
    });
    downloads.append(a);
  }
  $(".details", card).hidden = false;
}

// ------------------------------------------------------------------------------------------ wiring

function wire() {
  const drop = $("#drop");
  $("#files").addEventListener("change", (event) => {
    addFiles(event.target.files);
    event.target.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
  });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      $("#files").click();
    }
  });
  $("#opacity").addEventListener("input", (event) => {
    const value = event.target.value;
    $("#opacity-value").textContent = value + " %";
    for (const canvas of document.querySelectorAll("canvas.tint")) canvas.style.opacity = value / 100;
  });
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("#token").value.trim();
    sessionStorage.setItem("unetkit-token", state.token);
    loadModel();
  });
  loadModel().catch((err) => showMessage("Cannot reach the server: " + err.message));
}

wire();
