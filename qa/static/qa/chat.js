// Chat page of the cited Q&A: streams POST /api/v1/qa/?stream=true (Server-Sent Events read with
// fetch), renders [n] markers as buttons that open the cited page with the quote highlighted.
// All document text is inserted with textContent: nothing from an answer or a chunk is HTML.
(function () {
  "use strict";
  const app = document.getElementById("qa-app");
  if (!app) return;
  const tenant = app.dataset.tenant;
  const csrf = app.dataset.csrf;
  const api = app.dataset.api;
  const sourceUrl = (id) => app.dataset.sources.replace(/0\/$/, id + "/");
  const exportUrl = (id, fmt) => app.dataset.export.replace(/\/0\/export\.md$/, "/" + id + "/export." + fmt);
  const thread = document.getElementById("qa-thread");
  const form = document.getElementById("qa-form");
  const input = document.getElementById("qa-question");
  const errorBox = document.getElementById("qa-error");
  let conversationId = null;

  function headers() {
    return { "Content-Type": "application/json", "X-Tenant": tenant, "X-CSRFToken": csrf };
  }

  function showError(msg) { errorBox.textContent = msg; errorBox.hidden = !msg; }

  function setConversation(id) {
    conversationId = id;
    const box = document.getElementById("qa-export");
    box.hidden = !id;
    if (id) {
      document.getElementById("qa-export-md").href = exportUrl(id, "md");
      document.getElementById("qa-export-json").href = exportUrl(id, "json");
    }
    document.querySelectorAll(".qa-conv").forEach((a) => a.classList.toggle("current", String(a.dataset.conv) === String(id)));
  }

  // Answer text with [n] markers turned into buttons.
  function renderAnswer(el, text, citations) {
    el.textContent = "";
    const byIndex = new Map((citations || []).map((c) => [c.index, c]));
    const re = /\[(\d+(?:\s*,\s*\d+)*)\]/g;
    let pos = 0, m;
    while ((m = re.exec(text)) !== null) {
      el.appendChild(document.createTextNode(text.slice(pos, m.index)));
      m[1].split(/\s*,\s*/).forEach((n) => {
        const c = byIndex.get(Number(n));
        const b = document.createElement("button");
        b.type = "button"; b.className = "qa-cite"; b.textContent = "[" + n + "]";
        if (c) { b.dataset.chunk = c.chunk_id; b.dataset.quote = c.quote; b.title = c.document_title + (c.page ? ", page " + c.page : ""); }
        el.appendChild(b);
      });
      pos = m.index + m[0].length;
    }
    el.appendChild(document.createTextNode(text.slice(pos)));
  }

  function renderCitationList(el, citations) {
    el.textContent = "";
    (citations || []).forEach((c) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button"; b.className = "qa-cite"; b.textContent = "[" + c.index + "]";
      b.dataset.chunk = c.chunk_id; b.dataset.quote = c.quote;
      li.appendChild(b);
      li.appendChild(document.createTextNode(" " + c.document_title + (c.page ? ", page " + c.page : "") + ": “" + c.quote + "”"));
      el.appendChild(li);
    });
  }

  function newTurn(question) {
    const turn = document.createElement("div");
    turn.className = "qa-turn";
    const q = document.createElement("div"); q.className = "qa-q"; q.textContent = question;
    const a = document.createElement("div"); a.className = "qa-a"; a.dataset.testid = "answer";
    const cites = document.createElement("ol"); cites.className = "qa-cites";
    const meta = document.createElement("div"); meta.className = "qa-meta";
    turn.append(q, a, cites, meta);
    thread.appendChild(turn);
    return { turn, a, cites, meta };
  }

  function finishTurn(t, data) {
    renderAnswer(t.a, data.answer, data.citations);
    renderCitationList(t.cites, data.citations);
    t.a.classList.toggle("flagged", !!data.flagged);
    const bits = [];
    if (data.notice) bits.push(data.notice);
    if (data.flagged) bits.push("Some citations could not be verified and were removed.");
    if (data.latency_ms) bits.push("retrieve " + Math.round(data.latency_ms.retrieve) + " ms, total " + Math.round(data.latency_ms.total) + " ms");
    if (data.model) bits.push(data.model);
    t.meta.textContent = bits.join(" · ");
    t.turn.dataset.record = data.id;
  }

  function addConversationLink(id, title) {
    if (document.querySelector('.qa-conv[data-conv="' + id + '"]')) return;
    const empty = document.getElementById("qa-no-convs"); if (empty) empty.remove();
    const li = document.createElement("li");
    const a = document.createElement("a"); a.href = "#"; a.className = "qa-conv"; a.dataset.conv = id;
    a.textContent = title.length > 60 ? title.slice(0, 59) + "…" : title;
    li.appendChild(a);
    document.getElementById("qa-conv-list").prepend(li);
  }

  async function ask(question) {
    showError("");
    const t = newTurn(question);
    const body = { question: question };
    if (conversationId) body.conversation_id = conversationId;
    let resp;
    try {
      resp = await fetch(api + "qa/?stream=true", { method: "POST", headers: headers(), body: JSON.stringify(body), credentials: "same-origin" });
    } catch (e) { showError("The server could not be reached."); t.turn.remove(); return; }
    if (!resp.ok) {
      let msg = "Request failed (" + resp.status + ").";
      try { msg = (await resp.json()).detail || msg; } catch (e) { /* not JSON */ }
      showError(msg); t.turn.remove(); return;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "", streamed = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const raw = buf.slice(0, cut); buf = buf.slice(cut + 2);
        let event = "message", data = "";
        raw.split("\n").forEach((line) => {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        });
        const payload = data ? JSON.parse(data) : {};
        if (event === "delta") { streamed += payload.text; t.a.textContent = streamed; }
        else if (event === "reset") { streamed = ""; t.a.textContent = ""; }
        else if (event === "citations") { renderCitationList(t.cites, payload.citations); }
        else if (event === "final") {
          finishTurn(t, payload);
          if (!conversationId) addConversationLink(payload.conversation_id, question);
          setConversation(payload.conversation_id);
        } else if (event === "error") { showError(payload.detail || "The answer failed."); }
      }
    }
  }

  async function openSource(chunkId, quote) {
    const panel = document.getElementById("qa-source");
    const title = document.getElementById("qa-source-title");
    const box = document.getElementById("qa-source-text");
    const resp = await fetch(sourceUrl(chunkId), { credentials: "same-origin" });
    if (!resp.ok) { showError("The cited source is no longer available."); return; }
    const data = await resp.json();
    title.textContent = data.document_title + (data.page ? " — page " + data.page : "");
    box.textContent = "";
    data.chunks.forEach((c) => {
      const p = document.createElement("p");
      p.dataset.chunk = c.id;
      const at = c.id === data.chunk_id && quote ? c.text.indexOf(quote) : -1;
      if (at >= 0) {
        const mark = document.createElement("mark");
        mark.textContent = quote;
        p.append(document.createTextNode(c.text.slice(0, at)), mark, document.createTextNode(c.text.slice(at + quote.length)));
      } else {
        p.textContent = c.text;
      }
      box.appendChild(p);
    });
    panel.hidden = false;
    const mark = box.querySelector("mark"); if (mark) mark.scrollIntoView({ block: "center" });
  }

  async function loadConversation(id) {
    showError("");
    const resp = await fetch(api + "conversations/" + id + "/", { headers: headers(), credentials: "same-origin" });
    if (!resp.ok) { showError("This conversation is not available."); return; }
    const data = await resp.json();
    thread.textContent = "";
    data.turns.forEach((turn) => {
      const t = newTurn(turn.question);
      finishTurn(t, Object.assign({}, turn, { notice: "" }));
    });
    setConversation(data.is_mine ? id : null);
    if (!data.is_mine) { document.getElementById("qa-export").hidden = false; document.getElementById("qa-export-md").href = exportUrl(id, "md"); document.getElementById("qa-export-json").href = exportUrl(id, "json"); }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    input.value = "";
    ask(q);
  });
  document.getElementById("qa-new").addEventListener("click", () => { thread.textContent = ""; setConversation(null); input.focus(); });
  document.getElementById("qa-source-close").addEventListener("click", () => { document.getElementById("qa-source").hidden = true; });
  document.getElementById("qa-share").addEventListener("click", async () => {
    if (!conversationId) return;
    const resp = await fetch(api + "conversations/" + conversationId + "/share/", { method: "POST", headers: headers(), body: JSON.stringify({ shared: true }), credentials: "same-origin" });
    showError(resp.ok ? "" : "Sharing failed.");
    if (resp.ok) document.getElementById("qa-share").textContent = "Shared";
  });
  document.addEventListener("click", (e) => {
    const b = e.target.closest(".qa-cite");
    if (b && b.dataset.chunk) { e.preventDefault(); openSource(b.dataset.chunk, b.dataset.quote); return; }
    const c = e.target.closest(".qa-conv");
    if (c) { e.preventDefault(); loadConversation(c.dataset.conv); }
  });
})();
