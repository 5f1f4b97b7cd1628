// A little plain JavaScript: selection counts, progress messages, confirmations, preview.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function setupSelection(form) {
  const boxes = () => Array.from(form.querySelectorAll('input[name="student_id"]'));
  const all = form.querySelector("[data-select-all]");
  const count = form.querySelector("[data-selected-count]");
  const update = () => {
    const n = boxes().filter((b) => b.checked).length;
    if (count) count.textContent = n + " selected";
    form.dataset.count = String(n);
    if (all) all.checked = n > 0 && n === boxes().length;
  };
  if (all) all.addEventListener("change", () => { boxes().forEach((b) => { b.checked = all.checked; }); update(); });
  form.addEventListener("change", update);
  update();
}

function setupProgress(form) {
  const box = form.querySelector(".progress");
  const release = () => {
    form.querySelectorAll('button[type="submit"]').forEach((b) => { b.disabled = false; });
    if (box) box.hidden = true;
  };
  form.addEventListener("submit", (event) => {
    if (event.defaultPrevented) return;
    if (!box) return;
    const text = box.querySelector(".progress-text");
    if (text && form.dataset.progress) text.textContent = form.dataset.progress;
    box.hidden = false;
    form.querySelectorAll('button[type="submit"]').forEach((b) => { b.disabled = true; });
    // A download leaves the page in place: give the buttons back after a while.
    setTimeout(release, 15000);
  });
  // Changing an option after a download (say, CSV to HTML) means another run: allow it now.
  form.addEventListener("change", release);
  // Coming back to the page through the browser's history shows it as it was left.
  window.addEventListener("pageshow", release);
}

function setupConfirm(form) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

function showPreview(target, status, data) {
  target.replaceChildren();
  if (status !== 200) {
    const p = document.createElement("p");
    p.className = "alert error";
    p.setAttribute("role", "alert");
    p.textContent = (data && data.detail) || "The preview could not be made.";
    target.append(p);
    if (data && Array.isArray(data.errors)) {
      const ul = document.createElement("ul");
      data.errors.forEach((e) => {
        const li = document.createElement("li");
        li.textContent = e.field + ": " + e.message;
        ul.append(li);
      });
      p.append(ul);
    }
    return;
  }
  const subject = document.createElement("p");
  const label = document.createElement("strong");
  label.textContent = "Subject: ";
  subject.append(label, document.createTextNode(data.subject || ""));
  const text = document.createElement("pre");
  text.className = "pre";
  text.textContent = data.text || "";
  target.append(subject, text);
  if (data.html) {
    const frame = document.createElement("iframe");
    frame.setAttribute("sandbox", "");
    frame.setAttribute("title", "Email as HTML");
    frame.srcdoc = data.html;
    target.append(frame);
  }
}

function setupPreview(button) {
  button.addEventListener("click", async () => {
    const form = button.closest("form");
    const target = document.getElementById("preview");
    target.textContent = "Rendering the preview…";
    try {
      const resp = await fetch("/invites/preview", {
        method: "POST",
        headers: { "X-CSRF-Token": csrfToken() },
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
      let data = null;
      try { data = await resp.json(); } catch (e) { data = null; }
      showPreview(target, resp.status, data);
    } catch (e) {
      showPreview(target, 0, { detail: "The preview could not be made (network)." });
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-selection]").forEach(setupSelection);
  document.querySelectorAll("form[data-confirm]").forEach(setupConfirm);
  document.querySelectorAll("form[data-progress]").forEach(setupProgress);
  document.querySelectorAll("[data-preview]").forEach(setupPreview);
});
