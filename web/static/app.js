// Bitnobi's only script: upload progress and confirmations. Every page
// works without it (forms post and redirect); the Content-Security-Policy
// allows this file and no inline script.
"use strict";

// Buttons and forms with data-confirm ask before submitting.
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});

// The upload form sends the file with XMLHttpRequest, so that a progress
// bar can follow the upload: the body streams from the disk to the server,
// which streams it to the blob store (files of hundreds of MB are never
// held in memory on either side).
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("upload-form");
  if (!form) {
    return;
  }
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearErrors(form);
    var data = new FormData();
    // The server reads the text fields first, then the file.
    ["name", "description", "format"].forEach(function (n) {
      data.append(n, form.elements[n].value);
    });
    var file = form.elements.file.files[0];
    if (!file) {
      showError(form, "file", "Choose a file to upload.");
      return;
    }
    data.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", form.getAttribute("data-csrf"));
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "Uploading…";
    form.querySelector("button[type=submit]").disabled = true;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.max = e.total;
        bar.value = e.loaded;
        status.textContent = "Uploading… " + Math.floor((100 * e.loaded) / e.total) + "%";
      }
    });
    xhr.upload.addEventListener("load", function () {
      status.textContent = "Checking and storing the file…";
    });
    xhr.addEventListener("load", function () {
      form.querySelector("button[type=submit]").disabled = false;
      var body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        body = { message: "The server answered " + xhr.status + "." };
      }
      if (xhr.status === 201 && body.id) {
        status.textContent = "Uploaded.";
        window.location.assign("/datasources/" + body.id);
        return;
      }
      bar.hidden = true;
      status.textContent = "";
      showError(form, body.field || "", body.message || "The upload failed.");
    });
    xhr.addEventListener("error", function () {
      form.querySelector("button[type=submit]").disabled = false;
      bar.hidden = true;
      status.textContent = "";
      showError(form, "", "The upload was interrupted: check the connection and try again.");
    });
    xhr.send(data);
  });
});

function clearErrors(form) {
  form.querySelectorAll(".js-error").forEach(function (el) {
    el.remove();
  });
  form.querySelectorAll("[aria-invalid]").forEach(function (el) {
    el.removeAttribute("aria-invalid");
  });
}

// showError puts message beside the field it concerns, or above the form.
function showError(form, field, message) {
  var p = document.createElement("p");
  p.className = "js-error";
  p.setAttribute("role", "alert");
  p.textContent = message;
  var input = field ? form.elements[field] : null;
  if (input && input.parentNode) {
    p.classList.add("field-error");
    p.id = "f-" + field + "-jserror";
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", p.id);
    input.parentNode.appendChild(p);
    input.focus();
  } else {
    p.classList.add("form-error");
    form.insertBefore(p, form.firstChild);
  }
}

// The backups page follows a running backup: it asks the server for the
// job's state every second, shows its progress line, and reloads the page
// (to list the new backup) when it has ended.
document.addEventListener("DOMContentLoaded", function () {
  var job = document.getElementById("job");
  if (!job || job.getAttribute("data-running") !== "true") {
    return;
  }
  var status = document.getElementById("job-status");
  var poll = function () {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", job.getAttribute("data-job-url"));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.addEventListener("load", function () {
      var j = {};
      try {
        j = JSON.parse(xhr.responseText);
      } catch (e) {
        status.textContent = "The server answered " + xhr.status + ": reload the page.";
        return;
      }
      if (j.running) {
        status.textContent = "A backup is running" + (j.progress ? ": " + j.progress : "…");
        window.setTimeout(poll, 1000);
        return;
      }
      window.location.reload();
    });
    xhr.addEventListener("error", function () {
      status.textContent = "Lost contact with the server: reload the page.";
    });
    xhr.send();
  };
  window.setTimeout(poll, 500);
});

// A form with data-running (the workflow's Run button) shows that the run
// is under way: runs are synchronous, so the page stays until it ends.
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-running");
  if (!msg || ev.defaultPrevented) {
    return;
  }
  var button = ev.target.querySelector("button[type=submit]");
  if (button) {
    button.disabled = true;
    button.textContent = "Running…";
  }
  var status = ev.target.parentNode.querySelector(".run-status");
  if (status) {
    status.textContent = msg;
  }
});
