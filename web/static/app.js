// Progressive enhancement: in-place translation and live job progress. Text is set with
// textContent only, so nothing from a user or a model is ever parsed as HTML.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(url, options = {}) {
  const response = await fetch(url, {
    ...options,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), ...(options.headers || {}) },
  });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || `HTTP ${response.status}`);
  return body;
}

function lines(text) { return text.split(/\r?\n/); }

function showScores(box, scores) {
  box.replaceChildren();
  for (const [key, label] of [["bleu", "BLEU"], ["chrf", "chrF"], ["ter", "TER"]]) {
    const div = document.createElement("div");
    const name = document.createElement("span");
    name.className = "metric"; name.textContent = label + " ";
    const value = document.createElement("strong");
    value.textContent = scores[key].toFixed(2);
    div.append(name, value); box.append(div);
  }
  const sig = document.createElement("p");
  sig.className = "signature"; sig.textContent = scores.signatures.bleu;
  box.append(sig); box.hidden = false;
}

// The translations with each low-confidence sentence in a <mark> (text nodes only). The
// sentences of a segment are found in its text in order; returns how many were marked.
function showTranslations(output, result, threshold) {
  output.replaceChildren();
  const sentences = result.sentences || [];
  const confidence = result.sentence_confidence || [];
  const segment = result.sentence_segment || [];
  let marked = 0;
  result.translations.forEach((text, i) => {
    if (i) output.append("\n");
    let pos = 0;
    sentences.forEach(([, translation], k) => {
      if (segment[k] !== i || typeof translation !== "string") return;
      const wanted = translation.split(/\s+/).filter(Boolean).join(" ");
      const at = wanted ? text.indexOf(wanted, pos) : -1;
      if (at < 0) return;
      const doubtful = typeof confidence[k] === "number" && confidence[k] < threshold;
      if (doubtful) {
        const mark = document.createElement("mark");
        mark.className = "doubtful";
        mark.title = `Low confidence (${confidence[k].toFixed(2)})`;
        mark.textContent = wanted;
        output.append(text.slice(pos, at), mark);
        marked += 1;
      } else {
        output.append(text.slice(pos, at + wanted.length));
      }
      pos = at + wanted.length;
    });
    output.append(text.slice(pos));
  });
  return marked;
}

// Each line's other translations (n-best), best first: a list per line that has any (the
// API keeps k per line: an empty line's and repeats of the translation are left out).
function showAlternatives(box, result) {
  const list = box.querySelector("ol");
  list.replaceChildren();
  const others = result.alternatives || [];
  others.forEach((alternatives, i) => {
    const item = document.createElement("li");
    item.value = i + 1;
    const chosen = document.createElement("span");
    chosen.textContent = result.translations[i];
    const inner = document.createElement("ul");
    const distinct = [...new Set(alternatives)].filter((t) => t.trim() && t !== result.translations[i]);
    for (const text of distinct) {
      const entry = document.createElement("li"); entry.textContent = text; inner.append(entry);
    }
    item.append(chosen, inner);
    if (distinct.length) list.append(item);
  });
  box.hidden = !list.children.length;
}

function counters() {
  for (const hint of document.querySelectorAll("[data-counter-for]")) {
    const field = document.getElementById(hint.dataset.counterFor);
    if (!field) continue;
    const max = field.getAttribute("maxlength");
    const update = () => { hint.textContent = `${field.value.length} / ${max}`; };
    field.addEventListener("input", update); update();
  }
}

function languageSelectors() {
  // Each form's targets narrowed to those its source reaches (all of them for Detect).
  for (const source of document.querySelectorAll("select[data-reachable]")) {
    const reachable = JSON.parse(source.dataset.reachable);
    const target = source.form.querySelector("select[name=target]");
    const update = () => {
      const allowed = reachable[source.value];
      for (const option of target.options) option.disabled = !!allowed && !allowed.includes(option.value);
      if (target.selectedOptions[0]?.disabled) target.value = [...target.options].find((o) => !o.disabled)?.value;
    };
    source.addEventListener("change", update);
    update();
  }
}

function translateForm() {
  const form = document.getElementById("translate-form");
  if (!form) return;
  const output = document.getElementById("output");
  const status = document.getElementById("output-status");
  const scores = document.getElementById("scores");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const otherBox = document.getElementById("other-translations");
    button.disabled = true; output.textContent = ""; scores.hidden = true; otherBox.hidden = true;
    status.textContent = "Translating…"; status.className = "hint";
    const reference = form.reference.value.trim() ? lines(form.reference.value) : null;
    try {
      let job = await api(form.dataset.api, { method: "POST", body: JSON.stringify({
        text: lines(form.text.value), pair: `${form.source.value}-${form.target.value}`,
        beam_size: Number(form.beam_size.value), reference,
        alternatives: Number(form.alternatives.value) || 0 }) });
      // Each request waits on the server until the job finishes (or 10 s pass): no polling.
      const jobUrl = form.dataset.jobApi.replace("JOB", job.id) + "?wait=10";
      while (!["done", "failed", "cancelled"].includes(job.status)) job = await api(jobUrl);
      if (job.status !== "done") throw new Error(job.error || `the job was ${job.status}`);
      const result = job.result || await api(form.dataset.resultApi.replace("JOB", job.id));
      const doubtful = showTranslations(output, result, Number(form.dataset.lowConfidence));
      const link = document.createElement("a");
      link.href = form.dataset.jobPage.replace("JOB", job.id); link.textContent = "job details";
      const note = doubtful ? `${doubtful} sentence${doubtful > 1 ? "s" : ""} with low ` +
        "confidence (marked): check before use · " : "";
      const names = Object.fromEntries([...form.source.options].map((o) => [o.value, o.text]));
      const found = job.detected ? `${names[job.detected.language] || job.detected.language} ` +
        `(detected, ${job.detected.confidence}%) · ` : "";
      const via = job.pivot ? `through ${names[job.pivot] || job.pivot} · ` : "";
      status.replaceChildren(`Done in ${(job.run_seconds * 1000).toFixed(0)} ms · ${found}${via}${note}`, link);
      showAlternatives(otherBox, result);
      if (result.scores) showScores(scores, result.scores);
    } catch (error) {
      status.textContent = error.message; status.className = "error";
    } finally {
      button.disabled = false;
    }
  });
}

async function jobPage() {
  const box = document.getElementById("job");
  if (!box || !["queued", "running"].includes(box.dataset.status)) return;
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  const eta = document.getElementById("eta");
  const badge = document.getElementById("job-status");
  // Once the page is being left (the Cancel button's form), its own reload must not replace
  // that navigation: the cancellation's confirmation would be lost.
  let leaving = false;
  window.addEventListener("beforeunload", () => { leaving = true; });
  for (;;) {
    await sleep(500);
    if (leaving) return;
    let job;
    try { job = await api(box.dataset.api); } catch (error) { eta.textContent = ` (${error.message})`; continue; }
    const pct = (100 * job.progress).toFixed(1);
    bar.value = pct; bar.textContent = `${pct}%`;
    const unit = job.kind === "text" ? "segments" : "sentences";
    text.textContent = job.total ? `${job.done} / ${job.total} ${unit} (${pct}%)`
      : (job.status === "queued" ? "Waiting for a worker…" : "Splitting into sentences…");
    badge.textContent = job.status; badge.className = `badge ${job.status}`;
    if (job.status === "running" && job.done > 0 && job.total > job.done && job.run_seconds) {
      const left = job.run_seconds / job.done * (job.total - job.done);
      eta.textContent = ` · about ${left < 60 ? Math.ceil(left) + " s" : (left / 60).toFixed(1) + " min"} left`;
    }
    if (["done", "failed", "cancelled"].includes(job.status)) {
      if (!leaving) window.location.reload();
      return;
    }
  }
}

// The leaderboard's "compare the ticked systems": enabled once a row is ticked, and no more
// rows tickable than the comparison takes (data-max).
function compareSeveral() {
  for (const form of document.querySelectorAll("form.compare-several")) {
    const boxes = [...form.querySelectorAll("input[type=checkbox][name=system]")];
    const button = form.querySelector("button[type=submit]");
    const max = Number(form.dataset.max) || boxes.length;
    const update = () => {
      const ticked = boxes.filter((box) => box.checked).length;
      button.disabled = ticked === 0;
      for (const box of boxes) box.disabled = !box.checked && ticked >= max;
    };
    for (const box of boxes) box.addEventListener("change", update);
    update();
  }
}

// Forms that destroy something ask first (data-confirm: the question).
function confirmForms() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => { counters(); languageSelectors(); translateForm(); jobPage(); compareSeveral(); confirmForms(); });
