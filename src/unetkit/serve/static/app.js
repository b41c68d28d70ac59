// unetkit serve page: plain JavaScript, no libraries, nothing loaded from other hosts.
// Every request carries the token (if any) in the Authorization header, so images are fetched as blobs
// and shown through object URLs instead of plain <img src> links.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { token: sessionStorage.getItem("unetkit-token") || "", model: null, queue: [], active: 0 };
const MAX_PARALLEL = 2;   // uploads in flight from this page; the server has its own queue
const MAX_RETRIES = 3;    // on 503 (server busy), after the Retry-After delay; then the card's Retry button

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
  const tokenError = $("#token-error");
  if (response.status === 401) {
    $("#token-form").hidden = false;
    $("#model-info").textContent = "token needed";
    // A token was given and refused: say so (the form alone looked as if nothing happened).
    tokenError.textContent = state.token ? "wrong token: check it and try again" : "";
    tokenError.hidden = !state.token;
    return;
  }
  tokenError.hidden = true;
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
  // The methods this model takes (GET /api/model): only those that run on its classes. auto is the model's
  // own method, as `unetkit predict --instances auto`. Preselected: the API's own default (info.default),
  // auto for a model that records a method (trained on instance labels), else none: a count of a semantic
  // model's foreground (all classes but the first merged) means nothing.
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
  select.value = info.default || (info.own ? "auto" : "none");
  if (!select.value) select.selectedIndex = 0;
}

// ------------------------------------------------------------------------------------------ uploads

function addFiles(fileList) {
  showMessage("");
  for (const file of fileList) {
    const card = $("#result-template").content.firstElementChild.cloneNode(true);
    $(".name", card).textContent = file.name;
    $(".progress", card).setAttribute("aria-label", `progress of ${file.name}`);
    const item = {
      file, card, xhr: null, cancelled: false, wake: null, timer: null,
      progressId: null, progress: null, polling: false, started: 0,  // GET api/progress of the request
    };
    $(".cancel", card).setAttribute("aria-label", `Cancel ${file.name}`);
    $(".retry", card).setAttribute("aria-label", `Retry ${file.name}`);
    $(".cancel", card).addEventListener("click", () => cancel(item));
    $(".retry", card).addEventListener("click", () => enqueue(item));
    $("#results").prepend(card);
    enqueue(item);
  }
}

function enqueue(item) {
  item.cancelled = false;
  $(".error", item.card).hidden = true;
  $(".retry", item.card).hidden = true;
  setStatus(item.card, "queued", "waiting");
  state.queue.push(item);
  pump();
}

// Aborting the request closes its connection, and the server cancels the job of a client that left (as
// when the page is reloaded or closed): the worker is free for the next image at once.
function cancel(item) {
  item.cancelled = true;
  const queued = state.queue.indexOf(item);
  if (queued >= 0) state.queue.splice(queued, 1);
  if (item.xhr) item.xhr.abort();
  if (item.wake) item.wake();  // a wait before the next try ends now
  setStatus(item.card, "cancelled", "cancelled");
  $(".retry", item.card).hidden = false;
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
  $(".retry", card).hidden = false;
}

// A new random id for each request (32 hex digits): GET api/progress/<id> says how far its job is.
function newProgressId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The card's line while the server works: the stage and, for a tiled or augmented image, the tiles done
// of the total (GET api/progress), with the time so far.
function workingText(progress, seconds) {
  if (progress && progress.stage === "queued") return `waiting for the server… ${seconds} s`;
  if (progress && progress.stage === "writing") return `writing the results… ${seconds} s`;
  if (progress && progress.stage === "predicting" && progress.tiles_total > 1) {
    return `segmenting… tile ${progress.tiles_done} of ${progress.tiles_total} · ${seconds} s`;
  }
  return `segmenting… ${seconds} s`;
}

function showWorking(item) {
  if (item.card.dataset.state !== "working") return;  // the answer came (or the user cancelled) meanwhile
  const seconds = Math.round((Date.now() - item.started) / 1000);
  const p = item.progress;
  const tiled = p && p.stage === "predicting" && p.tiles_total > 1;
  setStatus(item.card, "working", workingText(p, seconds),
    tiled ? (100 * p.tiles_done) / p.tiles_total : undefined);
}

// One poll at a time; a 404 (not admitted yet, or just ended) or a network error leaves the line as it was.
async function pollProgress(item) {
  if (item.polling || !item.progressId) return;
  item.polling = true;
  try {
    const response = await apiFetch("api/progress/" + item.progressId);
    if (response.ok && item.card.dataset.state === "working") {
      item.progress = await response.json();
      showWorking(item);
    }
  } catch (err) {
    // The answer to the upload itself reports a server that went away.
  } finally {
    item.polling = false;
  }
}

function upload(item) {
  // XMLHttpRequest rather than fetch: it reports upload progress.
  const { file, card } = item;
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("file", file, file.name);
    item.progressId = newProgressId();
    item.progress = null;
    form.append("progress_id", item.progressId);
    if (isDetector(state.model)) form.append("score_threshold", $("#score-threshold").value);
    else form.append("tta", $("#tta").value);
    form.append("instances", $("#instances").value);
    form.append("alpha", String($("#opacity").value / 100));
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    const done = (reply) => {
      clearInterval(item.timer);
      item.xhr = null;
      resolve(reply);
    };
    xhr.open("POST", "api/predict");
    for (const [key, value] of Object.entries(authHeaders())) xhr.setRequestHeader(key, value);
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) {
        setStatus(card, "uploading", `uploading ${Math.round((100 * event.loaded) / event.total)} %`,
          (100 * event.loaded) / event.total);
      }
    };
    xhr.upload.onload = () => {
      // The time so far and the tiles done, so that a long job (a big image, heavy TTA) shows how far it is.
      item.started = Date.now();
      setStatus(card, "working", "segmenting…");
      item.timer = setInterval(() => {
        showWorking(item);
        pollProgress(item);
      }, 1000);
    };
    xhr.onload = () => done({ status: xhr.status, body: xhr.response,
                              retryAfter: Number(xhr.getResponseHeader("Retry-After") || 0) });
    xhr.onerror = () => done({ status: 0, body: { detail: "network error: is the server running?" } });
    xhr.onabort = () => done({ status: 0, body: { detail: "cancelled" } });
    xhr.send(form);
  });
}

function replyText(reply) {
  const detail = reply.body && reply.body.detail ? reply.body.detail : "request failed";
  const text = typeof detail === "string" ? detail : JSON.stringify(detail);
  if (reply.status === 401) return "401: the token is missing or wrong: enter it above, then press Retry";
  if (reply.status === 503 && text.startsWith("server busy")) {
    return `503: the server is still busy with other images after ${MAX_RETRIES + 1} tries; ` +
      "press Retry to send this one again";
  }
  return `${reply.status || "error"}: ${text}`;
}

// As the server's format_bytes: 52428800 -> "50 MiB" (one decimal below 10).
function formatBytes(n) {
  for (const [unit, size] of [["GiB", 1 << 30], ["MiB", 1 << 20], ["KiB", 1024]]) {
    if (n >= size) {
      const value = n / size;
      return (value < 10 && value !== Math.trunc(value) ? value.toFixed(1) : value.toFixed(0)) + " " + unit;
    }
  }
  return `${n} bytes`;
}

// A file above the server's upload limit is refused here, naming it: the server would refuse it only after
// the upload, from the request's size, when the file's name is not known yet.
function tooLarge(file) {
  const limit = state.model && state.model.limits ? state.model.limits.max_upload_bytes : 0;
  if (!limit || file.size <= limit) return null;
  const instead = state.model.limits.instead ? `; larger files go through ${state.model.limits.instead}` : "";
  return `${file.name}: the file of ${formatBytes(file.size)} is larger than the upload limit of ` +
    `${formatBytes(limit)} (server option --max-upload-mb); not sent${instead}`;
}

async function process(item) {
  const { card } = item;
  const refused = tooLarge(item.file);
  if (refused) {
    fail(card, refused);
    $(".retry", card).hidden = true;  // the same file would be refused again
    return;
  }
  let reply;
  for (let attempt = 0; ; attempt++) {
    setStatus(card, "uploading", "uploading", 0);
    reply = await upload(item);
    if (item.cancelled) return;
    if (reply.status !== 503 || attempt >= MAX_RETRIES) break;
    const detail = reply.body && typeof reply.body.detail === "string" ? reply.body.detail : "";
    if (!detail.startsWith("server busy")) break;  // shutting down: no use trying again at once
    const wait = Math.max(1, reply.retryAfter || 1);
    setStatus(card, "waiting", `server busy: trying again in ${wait} s (try ${attempt + 2} of ${MAX_RETRIES + 1})`);
    await new Promise((wake) => {
      item.wake = wake;
      setTimeout(wake, wait * 1000);
    });
    item.wake = null;
    if (item.cancelled) return;
  }
  if (reply.status !== 200) {
    fail(card, replyText(reply));
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
  const name = result.filename;
  const [inputUrl, maskUrl] = await Promise.all([blobUrl(result.links.input), blobUrl(result.links.mask)]);
  $(".panels", card).hidden = false;
  await Promise.all([
    loadImage($("img.input", card), inputUrl),
    loadImage($("img.overlay-base", card), inputUrl),
    loadImage($("img.mask", card), maskUrl),
  ]);
  // Alt texts name the file: a screen reader tells the cards apart.
  $("img.input", card).alt = `input image ${name}`;
  $("img.overlay-base", card).alt = `overlay of ${name}: the input with the class colours on top`;
  $("img.mask", card).alt = `class mask of ${name}`;
  // A tiny image is enlarged to the panel's width: nearest neighbour keeps its pixels crisp.
  $(".panels", card).classList.toggle("small", $("img.input", card).naturalWidth < 200);
  const canvas = $("canvas.tint", card);
  tintFromMask(canvas, $("img.mask", card));
  canvas.style.opacity = $("#opacity").value / 100;
  if (result.links.outlines) {
    // Each instance outlined in its colour, as on the overlay download: touching objects that were merged
    // show as one outline. Drawn over the tint at full strength, whatever the opacity.
    const outlines = $("img.outlines", card);
    await loadImage(outlines, await blobUrl(result.links.outlines));
    outlines.alt = `instance outlines of ${name}`;
    outlines.hidden = false;
  }
  canvas.dataset.ready = "true";

  const body = $(".legend tbody", card);
  body.textContent = "";
  for (const cls of result.classes) {
    const row = document.createElement("tr");
    row.className = "class-row";
    row.dataset.index = cls.index;
    row.dataset.fraction = cls.fraction;
    const nameCell = document.createElement("td");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = cls.color;
    nameCell.append(swatch, cls.name);
    const area = document.createElement("td");
    area.className = "num area";
    area.textContent = percent(cls.fraction);
    const pixels = document.createElement("td");
    pixels.className = "num";
    pixels.textContent = cls.pixels.toLocaleString("en");
    row.append(nameCell, area, pixels);
    body.append(row);
  }
  const summary = $(".summary", card);
  summary.textContent = "";
  const parts = [];
  if (result.instances) {
    const how = result.options.instances === "auto" ? `auto: ${result.instances.method}` : result.instances.method;
    const count = document.createElement("strong");
    count.className = "instance-count";
    count.textContent = String(result.instances.count);
    parts.push([count, ` instances (${how})`]);
  }
  parts.push([`prediction ${(result.timing_ms.predict / 1000).toFixed(2)} s`]);
  // ", " between the views: the line may wrap there on a phone.
  if (result.tta && result.tta !== "none") parts.push([`TTA ${result.tta.split(",").join(", ")}`]);
  parts.forEach((nodes, i) => summary.append(...(i ? [" · "] : []), ...nodes));

  const downloads = $(".downloads", card);
  downloads.textContent = "";
  const stem = name.replace(/\.[^.]*$/, "") || "image";
  const labels = {
    mask: "Mask PNG",
    overlay: "Overlay PNG",
    instances_color: "Instances PNG",
    instances: "Instance ids (16-bit PNG)",
    probs: "Probabilities (.npy)",
  };
  for (const kind of ["mask", "overlay", "instances_color", "instances", "probs"]) {
    if (!result.links[kind]) continue;
    const a = document.createElement("a");
    const fileName = `${stem}_${result.links[kind].split("/").pop()}`;
    // The real address and file name (shown on hover, kept by "save link as" where no token is needed);
    // a click fetches it with the token.
    a.href = result.links[kind];
    a.download = fileName;
    a.className = "download-" + kind;
    a.textContent = labels[kind];
    a.setAttribute("aria-label", `${labels[kind]} of ${name} (${fileName})`);
    a.addEventListener("click", async (event) => {
      event.preventDefault();
      let link = result.links[kind];
      if (kind === "overlay") link += "?alpha=" + $("#opacity").value / 100;
      try {
        const url = await blobUrl(link);
        const save = document.createElement("a");
        save.href = url;
        save.download = fileName;
        document.body.append(save);
        save.click();
        save.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (err) {
        const expired = /not found or expired/.test(err.message);
        const el = $(".error", card);
        el.textContent = expired
          ? `${name}: this result has expired (results are kept ${result.expires_in_s} s); press Retry to ` +
            "segment the image again"
          : `${name}: download failed: ${err.message}`;
        el.hidden = false;
        $(".retry", card).hidden = false;
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
