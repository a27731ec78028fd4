// hstrat labelling page. Every value from the schema or the items is inserted with
// textContent (never innerHTML), so ids and descriptions cannot inject markup.
"use strict";
(() => {
  const token = document.querySelector('meta[name="hstrat-token"]').content;
  const $ = (id) => document.getElementById(id);
  let state = null; // schema, annotator, total, start (from /api/state)
  let item = null; // the shown item (from /api/item/<i>), null on the "done" view
  let index = -1; // the shown position (state.total on the "done" view)
  let current = 0; // highlighted question: a position in item.variables
  let queue = Promise.resolve();
  let pending = 0;

  function setPending(delta) {
    pending += delta;
    document.body.dataset.pending = String(pending);
  }

  function showStatus(text, isError) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function api(method, path, body) {
    const options = { method, headers: { "X-Hstrat-Token": token } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data = {};
    try {
      data = await response.json();
    } catch (err) {
      data = { error: response.statusText };
    }
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  // Actions run one after another, in the order the keys were pressed.
  function enqueue(task) {
    setPending(1);
    queue = queue
      .then(task)
      .catch((err) => showStatus("Not saved: " + err.message + " (is the server running?)", true))
      .finally(() => setPending(-1));
    return queue;
  }

  function variableInfo(name) {
    return state.schema.variables.find((v) => v.name === name);
  }

  function setProgress(done, skipped) {
    const where = index < state.total ? `Case ${index + 1} of ${state.total}` : `${state.total} cases`;
    $("progress").textContent = `${where} · ${done} done · ${skipped} skipped`;
  }

  function render() {
    document.body.dataset.index = String(index);
    const finished = item === null;
    $("image").hidden = finished;
    $("done").hidden = !finished;
    $("panel").querySelectorAll("nav button").forEach((b) => { b.disabled = false; });
    $("back").disabled = index <= 0;
    $("next").disabled = finished;
    $("skip").disabled = finished;
    const questions = $("questions");
    questions.replaceChildren();
    if (finished) {
      $("item-id").textContent = "—";
      $("item-flag").textContent = "";
      $("item-flag").className = "";
      return;
    }
    $("item-id").textContent = item.id;
    const flag = $("item-flag");
    flag.textContent = item.complete ? "done" : item.skipped ? "skipped" : "";
    flag.className = item.complete ? "complete" : item.skipped ? "skipped" : "";
    const image = $("image");
    if (image.getAttribute("src") !== item.image) image.src = item.image;
    image.alt = "Case " + item.id;
    item.variables.forEach((name, position) => {
      const info = variableInfo(name);
      const box = document.createElement("div");
      box.className = "question" + (position === current ? " current" : "");
      box.dataset.variable = name;
      const title = document.createElement("h2");
      title.textContent = name;
      box.append(title);
      if (info.description) {
        const text = document.createElement("p");
        text.textContent = info.description;
        box.append(text);
      }
      const choices = document.createElement("div");
      choices.className = "choices";
      info.values.forEach((entry, j) => {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.value = entry.value;
        button.setAttribute("aria-pressed", String(item.answers[name] === entry.value));
        if (entry.description) button.title = entry.description;
        if (j < 9) {
          const key = document.createElement("span");
          key.className = "key";
          key.textContent = String(j + 1);
          button.append(key);
        }
        const label = document.createElement("span");
        label.textContent = entry.value;
        button.append(label);
        button.addEventListener("click", () => {
          enqueue(() => answer(position, entry.value));
        });
        choices.append(button);
      });
      box.append(choices);
      box.addEventListener("click", () => {
        if (current !== position) {
          current = position;
          render();
        }
      });
      questions.append(box);
    });
    setProgress(item.done, item.skipped_count);
  }

  async function show(target) {
    index = Math.max(0, Math.min(target, state.total));
    if (index >= state.total) {
      item = null;
      const done = await api("GET", "/api/state");
      render();
      $("done-text").textContent = `${done.done} labelled, ${done.skipped} skipped, ${
        state.total - done.done - done.skipped} left open, of ${state.total}.`;
      setProgress(done.done, done.skipped);
      return;
    }
    item = await api("GET", `/api/item/${index}`);
    const open = item.variables.findIndex((v) => !item.answers[v]);
    current = open === -1 ? 0 : open;
    render();
  }

  async function answer(position, value) {
    if (item === null || position >= item.variables.length) return;
    const name = item.variables[position];
    const wasComplete = item.complete;
    item = await api("POST", "/api/answer", { index, variable: name, value });
    showStatus(`Saved: ${name} = ${value}`);
    if (item.complete && !wasComplete) {
      await show(index + 1);
      return;
    }
    const later = item.variables.findIndex((v, i) => i > position && !item.answers[v]);
    const open = item.variables.findIndex((v) => !item.answers[v]);
    current = later !== -1 ? later : open !== -1 ? open : Math.min(position + 1, item.variables.length - 1);
    render();
  }

  async function skip() {
    if (item === null) return;
    await api("POST", "/api/skip", { index });
    showStatus(`Skipped case ${item.id}`);
    await show(index + 1);
  }

  $("back").addEventListener("click", () => enqueue(() => show(index - 1)));
  $("next").addEventListener("click", () => enqueue(() => show(index + 1)));
  $("skip").addEventListener("click", () => enqueue(skip));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || state === null) return;
    const key = event.key;
    if (key >= "1" && key <= "9") {
      event.preventDefault();
      const j = Number(key) - 1;
      enqueue(async () => {
        if (item === null) return;
        const info = variableInfo(item.variables[current]);
        if (j < info.values.length) await answer(current, info.values[j].value);
      });
    } else if (key === "ArrowLeft" || key === "Backspace") {
      event.preventDefault();
      enqueue(() => show(index - 1));
    } else if (key === "ArrowRight") {
      event.preventDefault();
      enqueue(() => (index < state.total ? show(index + 1) : undefined));
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      enqueue(skip);
    } else if (key === "ArrowDown" || key === "ArrowUp") {
      event.preventDefault();
      if (item === null) return;
      const step = key === "ArrowDown" ? 1 : -1;
      current = Math.max(0, Math.min(item.variables.length - 1, current + step));
      render();
    }
  });

  enqueue(async () => {
    state = await api("GET", "/api/state");
    $("schema-name").textContent = state.schema.name;
    $("target").textContent = state.schema.target ? `target: ${state.schema.target}` : "";
    $("annotator").textContent = `annotator: ${state.annotator}`;
    await show(state.start);
  });
})();
