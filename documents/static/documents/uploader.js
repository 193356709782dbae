// Drag-and-drop / file-picker uploader for the Documents page: each file is POSTed on its own
// (XMLHttpRequest, for upload progress events), two at a time; the table refreshes via htmx.
(function () {
  "use strict";
  var zone = document.getElementById("dropzone");
  if (!zone) return;
  var input = document.getElementById("file-input");
  var list = document.getElementById("upload-list");
  var force = document.getElementById("upload-force");
  var csrf = zone.querySelector("input[name=csrfmiddlewaretoken]").value;
  var queue = [];
  var active = 0;
  var MAX_PARALLEL = 2;

  function refreshRows() {
    if (window.htmx) {
      window.htmx.ajax("GET", zone.dataset.rowsUrl, { target: "#document-rows", swap: "outerHTML" });
    }
  }

  function row(file) {
    var li = document.createElement("li");
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    var bar = document.createElement("div");
    bar.className = "progress";
    var fill = document.createElement("span");
    fill.style.width = "0%";
    bar.appendChild(fill);
    var state = document.createElement("span");
    state.className = "state muted";
    state.textContent = "waiting";
    li.appendChild(name);
    li.appendChild(bar);
    li.appendChild(state);
    list.appendChild(li);
    return { li: li, fill: fill, state: state };
  }

  function send(item) {
    active += 1;
    var ui = item.ui;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", zone.dataset.uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) {
        var pct = Math.round((e.loaded / e.total) * 100);
        ui.fill.style.width = pct + "%";
        ui.state.textContent = "uploading " + pct + "%";
      }
    };
    xhr.onload = function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = { detail: "Unexpected response (" + xhr.status + ")." }; }
      if (xhr.status === 202) {
        ui.fill.style.width = "100%";
        ui.state.textContent = "uploaded, queued for ingestion";
        ui.li.className = "ok";
        refreshRows();
      } else {
        ui.state.textContent = body.detail || ("Upload failed (" + xhr.status + ").");
        ui.li.className = "bad";
      }
      done();
    };
    xhr.onerror = function () {
      ui.state.textContent = "Network error: the file was not uploaded.";
      ui.li.className = "bad";
      done();
    };
    var form = new FormData();
    form.append("file", item.file);
    if (force && force.checked) form.append("force", "true");
    xhr.send(form);
  }

  function done() {
    active -= 1;
    pump();
  }

  function pump() {
    while (active < MAX_PARALLEL && queue.length) send(queue.shift());
  }

  function add(files) {
    for (var i = 0; i < files.length; i++) queue.push({ file: files[i], ui: row(files[i]) });
    pump();
  }

  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files) add(e.dataTransfer.files);
  });
  input.addEventListener("change", function () { add(input.files); input.value = ""; });
})();
