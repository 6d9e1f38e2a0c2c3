// The sandbox page: polls /ui/state, renders it like a Slack client, posts what you do to /ui/*.
"use strict";

const EMOJI = {
  "+1": "👍", thumbsup: "👍", "-1": "👎", thumbsdown: "👎", white_check_mark: "✅", memo: "📝",
  rewind: "⏪", warning: "⚠️", no_entry: "⛔", pause_button: "⏸️", arrow_forward: "▶️", tada: "🎉",
  rocket: "🚀", x: "❌", heavy_check_mark: "✔️", eyes: "👀", chart_with_upwards_trend: "📈",
  hourglass_flowing_sand: "⏳", robot_face: "🤖", arrows_counterclockwise: "🔄",
};
const REACTIONS = ["+1", "-1", "white_check_mark"];

let state = null;
let view = { kind: "conversation", channel: null };
let thread = null; // {channel, ts}
let shownModal = null;

const $ = (id) => document.getElementById(id);

async function api(path, payload) {
  const response = await fetch(path, {
    method: payload === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  return response.json();
}

// -- text -------------------------------------------------------------------------------------
function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function emoji(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
}

function inline(text) {
  // Slack's mrkdwn on already-escaped text: code first, so nothing inside it is styled.
  const parts = text.split(/(`[^`\n]+`)/g);
  return parts.map((part) => {
    if (/^`[^`\n]+`$/.test(part)) return `<code>${part.slice(1, -1)}</code>`;
    return emoji(part)
      .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s.,:;!?)])/g, "$1<b>$2</b>")
      .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s.,:;!?)])/g, "$1<i>$2</i>")
      .replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s.,:;!?)])/g, "$1<s>$2</s>");
  }).join("");
}

function mrkdwn(raw) {
  const out = [];
  const markup = /<([@#!])?([^>|]+)(?:\|([^>]*))?>/g;
  let last = 0;
  for (const match of raw.matchAll(markup)) {
    out.push(inline(escapeHtml(raw.slice(last, match.index))));
    const [, sigil, target, label] = match;
    if (sigil === "@") {
      const name = label || (state && state.users[target]) || target;
      out.push(`<span class="mention">@${escapeHtml(name)}</span>`);
    } else if (sigil === "#") {
      out.push(`<span class="mention">#${escapeHtml(label || target)}</span>`);
    } else if (sigil === "!") {
      out.push(`<span class="mention">@${escapeHtml(label || target)}</span>`);
    } else {
      out.push(`<a href="${escapeHtml(target)}" target="_blank" rel="noreferrer">${escapeHtml(label || target)}</a>`);
    }
    last = match.index + match[0].length;
  }
  out.push(inline(escapeHtml(raw.slice(last))));
  return out.join("").replace(/```([\s\S]*?)```/g, "<pre>$1</pre>");
}

function plain(textObject) {
  if (!textObject) return "";
  return textObject.type === "mrkdwn" ? mrkdwn(textObject.text || "") : emoji(escapeHtml(textObject.text || ""));
}

// -- blocks -----------------------------------------------------------------------------------
function renderBlocks(blocks, message) {
  const box = document.createElement("div");
  for (const block of blocks) {
    if (block.type === "section") {
      const div = document.createElement("div");
      div.className = "text";
      div.innerHTML = plain(block.text) + (block.fields || []).map((f) => `<div>${plain(f)}</div>`).join("");
      box.append(div);
    } else if (block.type === "header") {
      const div = document.createElement("div");
      div.className = "header-block";
      div.innerHTML = plain(block.text);
      box.append(div);
    } else if (block.type === "context") {
      const div = document.createElement("div");
      div.className = "context";
      div.dataset.testid = "context";
      div.innerHTML = (block.elements || []).map((e) => (e.type === "image" ? "" : plain(e))).join(" ");
      box.append(div);
    } else if (block.type === "divider") {
      box.append(Object.assign(document.createElement("hr"), { className: "divider" }));
    } else if (block.type === "actions" && message) {
      const div = document.createElement("div");
      div.className = "actions";
      for (const element of block.elements || []) {
        if (element.type !== "button") continue;
        const button = document.createElement("button");
        button.innerHTML = plain(element.text);
        button.dataset.action = element.action_id;
        button.onclick = () => api("/ui/action", { channel: message.channel, ts: message.ts, action_id: element.action_id });
        div.append(button);
      }
      box.append(div);
    } else if (block.type === "context_actions" && message) {
      // Slack's feedback buttons: thumbs up / down, each sending its value.
      const div = document.createElement("div");
      div.className = "actions context-actions";
      for (const element of block.elements || []) {
        if (element.type !== "feedback_buttons") continue;
        for (const side of [element.positive_button, element.negative_button]) {
          const button = document.createElement("button");
          button.className = "feedback";
          button.innerHTML = plain(side.text);
          button.title = side.accessibility_label || "";
          button.dataset.action = element.action_id;
          button.dataset.value = side.value;
          button.onclick = () => api("/ui/action", { channel: message.channel, ts: message.ts, action_id: element.action_id, value: side.value });
          div.append(button);
        }
      }
      box.append(div);
    } else if (block.type === "image") {
      box.append(Object.assign(document.createElement("img"), { src: block.image_url, alt: block.alt_text || "" }));
    }
  }
  return box;
}

// -- messages ---------------------------------------------------------------------------------
function when(ts) {
  return new Date(parseFloat(ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function renderMessage(message, { channel, replies, ephemeral }) {
  const isBot = Boolean(message.bot_id) || message.user === state.bot.id;
  const name = ephemeral ? state.bot.name : state.users[message.user] || message.user || "someone";
  const row = document.createElement("div");
  row.className = "msg" + (ephemeral ? " ephemeral" : "");
  row.dataset.testid = ephemeral ? "ephemeral" : isBot ? "bot-message" : "message";
  row.dataset.ts = message.ts;
  const avatar = document.createElement("div");
  avatar.className = "avatar" + (isBot || ephemeral ? " bot" : "");
  avatar.textContent = isBot || ephemeral ? "🤖" : name.slice(0, 1).toUpperCase();
  const body = document.createElement("div");
  body.className = "body";
  body.innerHTML = `<span class="name">${escapeHtml(name)}</span>${isBot || ephemeral ? '<span class="app-badge">APP</span>' : ""}<span class="time">${when(message.ts)}</span>`;
  if (ephemeral) {
    body.insertAdjacentHTML("beforeend", `<div class="only-you">Only visible to you${message.command ? " · " + escapeHtml(message.command) : ""}</div>`);
  }
  const withChannel = { ...message, channel };
  if (message.subtype === "assistant_app_thread") {
    const pane = assistantThread(channel, message.ts);
    const text = Object.assign(document.createElement("div"), { className: "text" });
    text.textContent = `✨ ${(pane && pane.title) || "New chat"}`;
    body.append(text);
  } else if (message.streamed) {
    // Written by Slack's streaming methods: the Markdown text, then the blocks sent at the stop.
    const text = document.createElement("div");
    text.className = "text" + (message.streaming ? " streaming" : "");
    text.innerHTML = mrkdwn(message.text || "");
    body.append(text);
    if (message.blocks && message.blocks.length) body.append(renderBlocks(message.blocks, ephemeral ? null : withChannel));
  } else if (message.blocks && message.blocks.length) {
    body.append(renderBlocks(message.blocks, ephemeral ? null : withChannel));
  } else {
    const text = document.createElement("div");
    text.className = "text";
    text.innerHTML = mrkdwn(message.text || "");
    body.append(text);
  }
  if (!ephemeral) {
    const reactions = document.createElement("div");
    reactions.className = "reactions";
    for (const reaction of message.reactions || []) {
      const chip = document.createElement("button");
      chip.className = "reaction" + (reaction.users.includes(state.me.id) ? " mine" : "");
      chip.dataset.reaction = reaction.name;
      chip.textContent = `${EMOJI[reaction.name] || ":" + reaction.name + ":"} ${reaction.count}`;
      chip.onclick = () => api("/ui/reaction", { channel, ts: message.ts, name: reaction.name });
      reactions.append(chip);
    }
    body.append(reactions);
    const bar = document.createElement("div");
    bar.className = "react-bar";
    for (const name of REACTIONS) {
      const button = document.createElement("button");
      button.textContent = EMOJI[name];
      button.title = `React with :${name}:`;
      button.dataset.react = name;
      button.onclick = () => api("/ui/reaction", { channel, ts: message.ts, name });
      bar.append(button);
    }
    if (replies === undefined) {
      const reply = document.createElement("button");
      reply.textContent = "💬";
      reply.title = "Reply in thread";
      reply.onclick = () => openThread(channel, message.ts);
      bar.append(reply);
    }
    row.append(bar);
  }
  if (replies) {
    const link = document.createElement("button");
    link.className = "replies";
    link.dataset.testid = "replies";
    link.textContent = replies === 1 ? "1 reply" : `${replies} replies`;
    link.onclick = () => openThread(channel, message.ts);
    body.append(link);
  }
  row.prepend(avatar);
  row.append(body);
  return row;
}

function keepScroll(element, render) {
  const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
  render();
  if (atBottom) element.scrollTop = element.scrollHeight;
}

function renderConversation() {
  const channel = view.channel;
  const conversation = state.conversations.find((c) => c.id === channel);
  $("main-title").textContent = conversation ? (conversation.im ? conversation.name : "# " + conversation.name) : "";
  $("composer-text").placeholder = conversation
    ? conversation.im ? `Message ${conversation.name}` : `Message #${conversation.name} (mention @${state.bot.name} to ask)`
    : "";
  const messages = state.messages[channel] || [];
  const top = messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const items = [
    ...top.map((m) => ({ m, ephemeral: false })),
    ...state.ephemerals.filter((e) => e.channel === channel && !e.thread_ts).map((m) => ({ m, ephemeral: true })),
  ].sort((a, b) => parseFloat(a.m.ts) - parseFloat(b.m.ts));
  keepScroll($("messages"), () => {
    $("messages").replaceChildren(...items.map(({ m, ephemeral }) => {
      const replies = messages.filter((r) => r.thread_ts === m.ts && r.ts !== m.ts).length;
      return renderMessage(m, { channel, replies: ephemeral ? undefined : replies, ephemeral });
    }));
  });
}

function assistantThread(channel, ts) {
  return (state.assistant || []).find((t) => t.channel === channel && t.ts === ts);
}

function renderThread() {
  if (!thread) { $("thread").hidden = true; return; }
  $("thread").hidden = false;
  const messages = state.messages[thread.channel] || [];
  const pane = assistantThread(thread.channel, thread.ts);
  $("thread-title").textContent = pane ? `✨ ${pane.title || "New chat with " + state.bot.name}` : "Thread";
  const status = (state.statuses || []).find((s) => s.channel === thread.channel && s.thread_ts === thread.ts);
  $("thread-status").hidden = !status;
  $("thread-status").textContent = status ? `${state.bot.name} ${status.status}` : "";
  // Suggested prompts show in an assistant thread until you write in it; a click sends the prompt.
  const asked = messages.some((m) => m.thread_ts === thread.ts && m.user === state.me.id);
  const prompts = pane && !asked ? pane.prompts || [] : [];
  $("thread-prompts").hidden = !prompts.length;
  $("thread-prompts").replaceChildren(
    ...(prompts.length && pane.prompts_title ? [Object.assign(document.createElement("div"), { className: "prompts-title", textContent: pane.prompts_title })] : []),
    ...prompts.map((prompt) => {
      const button = Object.assign(document.createElement("button"), { className: "prompt", textContent: prompt.title });
      button.dataset.testid = "suggested-prompt";
      button.onclick = async () => {
        await api("/ui/message", { channel: thread.channel, text: prompt.message, thread_ts: thread.ts });
        await poll();
      };
      return button;
    }));
  const items = [
    ...messages.filter((m) => (m.ts === thread.ts || m.thread_ts === thread.ts) && m.subtype !== "assistant_app_thread").map((m) => ({ m, ephemeral: false })),
    ...state.ephemerals.filter((e) => e.channel === thread.channel && e.thread_ts === thread.ts).map((m) => ({ m, ephemeral: true })),
  ].sort((a, b) => parseFloat(a.m.ts) - parseFloat(b.m.ts));
  keepScroll($("thread-messages"), () => {
    $("thread-messages").replaceChildren(...items.map(({ m, ephemeral }) =>
      renderMessage(m, { channel: thread.channel, replies: m.ts === thread.ts ? 0 : null, ephemeral })));
  });
}

function renderHome() {
  $("main-title").textContent = `${state.bot.name} · Home`;
  const box = document.createElement("div");
  box.className = "home";
  box.dataset.testid = "home";
  box.append(state.home ? renderBlocks(state.home.blocks || [], null) : document.createTextNode("Loading…"));
  $("messages").replaceChildren(box);
}

function renderSidebar() {
  const item = (conversation) => {
    const button = document.createElement("button");
    button.className = "nav-item" + (view.kind === "conversation" && view.channel === conversation.id ? " active" : "");
    button.textContent = conversation.im ? "🤖 " + conversation.name : "# " + conversation.name;
    button.dataset.channel = conversation.id;
    button.onclick = () => { view = { kind: "conversation", channel: conversation.id }; thread = null; render(); };
    return button;
  };
  $("channels").replaceChildren(...state.conversations.filter((c) => !c.im).map(item));
  $("ims").replaceChildren(...state.conversations.filter((c) => c.im).map(item));
  $("nav-home").classList.toggle("active", view.kind === "home");
  if (state.review_url) { $("nav-review").href = state.review_url; $("nav-review").hidden = false; }
}

function renderModal() {
  const modal = state.modal;
  if (!modal) { $("modal").hidden = true; shownModal = null; return; }
  if (shownModal === modal.trigger_id) return; // keep what is being typed
  shownModal = modal.trigger_id;
  const v = modal.view;
  $("modal-title").innerHTML = plain(v.title);
  $("modal-submit").hidden = !v.submit;
  $("modal-submit").innerHTML = plain(v.submit || { type: "plain_text", text: "Submit" });
  $("modal-close").innerHTML = plain(v.close || { type: "plain_text", text: "Cancel" });
  const body = $("modal-body");
  body.replaceChildren();
  for (const block of v.blocks || []) {
    if (block.type === "input") {
      const label = document.createElement("label");
      label.innerHTML = plain(block.label);
      const input = document.createElement(block.element.multiline ? "textarea" : "input");
      input.name = block.block_id;
      input.value = block.element.initial_value || "";
      input.dataset.testid = "modal-input";
      const error = Object.assign(document.createElement("div"), { className: "error" });
      error.dataset.errorFor = block.block_id;
      label.htmlFor = input.id = "input-" + block.block_id;
      body.append(label, input, error);
    } else {
      body.append(renderBlocks([block], null));
    }
  }
  $("modal").hidden = false;
}

function render() {
  if (!state) return;
  if (!view.channel && state.conversations.length) view.channel = state.conversations[0].id;
  renderSidebar();
  if (view.kind === "home") { renderHome(); $("composer").hidden = true; } else { renderConversation(); $("composer").hidden = false; }
  renderThread();
  renderModal();
}

function openThread(channel, ts) {
  thread = { channel, ts };
  renderThread();
  $("thread-text").focus();
}

// -- input ------------------------------------------------------------------------------------
async function send(textarea, threadTs) {
  const text = textarea.value.trim();
  if (!text) return;
  // Typed before the first state arrived: there is no conversation to post to yet, so wait for it
  // (the text stays in the box until then).
  if (!threadTs && !view.channel) await poll();
  const channel = threadTs ? thread.channel : view.channel;
  if (!channel) return;
  textarea.value = "";
  const result = await api("/ui/message", { channel, text, thread_ts: threadTs || null });
  // Your question's answer arrives in its thread: open it, as you would in Slack.
  if (result.ok && result.ts && !threadTs) openThread(channel, result.ts);
  await poll();
}

function submitOnEnter(textarea, form) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
}

$("composer").addEventListener("submit", (event) => { event.preventDefault(); send($("composer-text"), null); });
$("thread-composer").addEventListener("submit", (event) => { event.preventDefault(); send($("thread-text"), thread && thread.ts); });
submitOnEnter($("composer-text"), $("composer"));
submitOnEnter($("thread-text"), $("thread-composer"));
$("thread-close").onclick = () => { thread = null; renderThread(); };
$("nav-assistant").onclick = async () => {
  const result = await api("/ui/assistant", { context_channel: view.kind === "conversation" ? view.channel : null });
  if (result.ok && result.ts) {
    view = { kind: "conversation", channel: result.channel };
    thread = { channel: result.channel, ts: result.ts };
    await poll();
    render();
    $("thread-text").focus();
  }
};
$("nav-home").onclick = async () => { view = { kind: "home", channel: view.channel }; thread = null; render(); await api("/ui/home", {}); };
$("modal-close").onclick = () => api("/ui/view/close", { trigger_id: shownModal }).then(poll);
$("modal-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = {};
  for (const input of $("modal-body").querySelectorAll("[name]")) values[input.name] = input.value;
  const result = await api("/ui/view", { trigger_id: shownModal, values });
  for (const [blockId, message] of Object.entries(result.errors || {})) {
    const target = $("modal-body").querySelector(`[data-error-for="${blockId}"]`);
    if (target) target.textContent = message;
  }
  await poll();
});

async function poll() {
  try {
    const next = await api("/ui/state");
    if (!state || next.version !== state.version) { state = next; render(); }
  } catch (error) {
    console.warn("sandbox: could not reach the local Slack", error);
  }
}

poll();
setInterval(poll, 400);
