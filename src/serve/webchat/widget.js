// The embeddable web chat of `scenarist serve --web-chat`:
//   <script src="https://bot.example.com/widget.js" async></script>
// adds a launcher button to the page that opens a panel holding the chat page (/chat) in an
// iframe. Everything lives in the shadow root of one <scenarist-chat> element, so the
// host page's styles do not reach it and its own do not leak out; the conversation runs in
// the iframe, on the chat server's origin, out of the host page's reach. Optional attributes
// on the script tag: data-title (the panel's title), data-user-name (the user's name for the
// bot's %user_name%), data-open="true" (open on load).
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || !script.src || customElements.get('scenarist-chat')) return;
  // The chat lives beside this script, wherever it is served (a path prefix behind a proxy too).
  const base = new URL('.', script.src);
  const origin = base.origin;
  const title = (script.dataset.title || 'Chat').slice(0, 100);
  const chatUrl = new URL('chat', base);
  chatUrl.searchParams.set('embed', '1');
  chatUrl.searchParams.set('title', title);
  if (script.dataset.userName) chatUrl.searchParams.set('name', script.dataset.userName.slice(0, 256));

  customElements.define('scenarist-chat', class extends HTMLElement {});
  const host = document.createElement('scenarist-chat');
  // Inline and !important, so the host page's rules for unknown elements change nothing.
  host.style.setProperty('all', 'initial', 'important');
  host.style.setProperty('position', 'fixed', 'important');
  host.style.setProperty('z-index', '2147483000', 'important');
  host.style.setProperty('inset', 'auto 0 0 auto', 'important');
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = `
<style>
  :host { all: initial; }
  * { box-sizing: border-box; }
  .launcher {
    all: unset; box-sizing: border-box; position: fixed; right: 20px; bottom: 20px;
    width: 60px; height: 60px; border-radius: 50%; background: #2f55d4; color: #fff;
    display: flex; align-items: center; justify-content: center; cursor: pointer;
    box-shadow: 0 6px 20px rgba(15, 30, 80, .35); z-index: 2147483001;
    font: 16px/1 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  }
  .launcher:hover { background: #2344b3; }
  .launcher:focus-visible, .close:focus-visible { outline: 3px solid #b4470f; outline-offset: 3px; }
  .launcher svg { width: 28px; height: 28px; fill: currentColor; }
  .badge {
    position: absolute; top: 4px; right: 4px; width: 14px; height: 14px; border-radius: 50%;
    background: #e8590c; border: 2px solid #fff;
  }
  .panel {
    position: fixed; right: 20px; bottom: 92px; width: 380px; height: 600px;
    max-width: calc(100vw - 24px); max-height: calc(100vh - 112px);
    display: flex; flex-direction: column; background: #fff; border-radius: 16px;
    overflow: hidden; box-shadow: 0 12px 40px rgba(15, 30, 80, .30); z-index: 2147483002;
    font: 16px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f29;
  }
  .panel[hidden] { display: none; }
  .head {
    display: flex; align-items: center; gap: 8px; padding: 10px 10px 10px 16px;
    background: #2f55d4; color: #fff;
  }
  .head h2 { all: unset; flex: 1; font-weight: 600; font-size: 16px; overflow-wrap: anywhere; }
  .close {
    all: unset; box-sizing: border-box; width: 36px; height: 36px; border-radius: 8px;
    display: flex; align-items: center; justify-content: center; cursor: pointer;
    font-size: 24px; line-height: 1;
  }
  .close:hover { background: rgba(255, 255, 255, .18); }
  iframe { flex: 1; width: 100%; border: 0; display: block; background: #fff; }
  @media (max-width: 480px) {
    .panel { inset: 0; width: 100%; height: 100%; max-width: none; max-height: none; border-radius: 0; }
    .open .launcher { display: none; }
  }
</style>
<div class="root">
  <div class="panel" id="panel" role="dialog" hidden>
    <div class="head"><h2 id="title"></h2><button class="close" type="button" aria-label="Close chat">&times;</button></div>
  </div>
  <button class="launcher" type="button" aria-expanded="false" aria-controls="panel" aria-label="Open chat">
    <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>
  </button>
</div>`;
  const wrapper = root.querySelector('.root');
  const panel = root.querySelector('.panel');
  const launcher = root.querySelector('.launcher');
  const close = root.querySelector('.close');
  root.querySelector('#title').textContent = title;
  panel.setAttribute('aria-label', title);
  let frame = null;
  let badge = null;

  function open() {
    if (!frame) {
      // Made on the first opening only: a visitor who never opens the chat gets no key.
      frame = document.createElement('iframe');
      frame.title = title;
      frame.src = chatUrl.href;
      frame.addEventListener('load', () => { if (!panel.hidden) focusChat(); });
      panel.append(frame);
    }
    panel.hidden = false;
    wrapper.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    launcher.setAttribute('aria-label', 'Close chat');
    if (badge) { badge.remove(); badge = null; }
    focusChat();
  }
  function shut() {
    panel.hidden = true;
    wrapper.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-label', 'Open chat');
    launcher.focus();
  }
  function focusChat() {
    frame.focus();
    if (frame.contentWindow) frame.contentWindow.postMessage({ type: 'scenarist-chat:focus' }, origin);
  }
  launcher.addEventListener('click', () => (panel.hidden ? open() : shut()));
  close.addEventListener('click', shut);
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') shut(); });
  // The chat page (in the iframe) asks to close on Escape, and says when the bot spoke.
  window.addEventListener('message', (e) => {
    if (!frame || e.source !== frame.contentWindow || e.origin !== origin || !e.data) return;
    if (e.data.type === 'scenarist-chat:close' && !panel.hidden) shut();
    if (e.data.type === 'scenarist-chat:activity' && panel.hidden && !badge) {
      badge = document.createElement('span');
      badge.className = 'badge';
      launcher.append(badge);
      launcher.setAttribute('aria-label', 'Open chat (new message)');
    }
  });

  const mount = () => {
    document.body.append(host);
    if (script.dataset.open === 'true') open();
  };
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
