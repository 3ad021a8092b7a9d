// End to end: the web chat of `scenarist serve --web-chat` in a real headless Chromium.
// Run by tests/serve_webchat.rs, which starts the servers and passes
//   WEBCHAT_QUIZ_URL  a server of scenarios/quiz
//   WEBCHAT_BOT_URL   a server of tests/webchat/assistant.scn (SQLite: it is restarted)
//   CHROMIUM          the browser
// and restarts the bot's server when this script prints `@@restart-bot` (answering `ok` on
// stdin). Each step prints `ok STEP`; the last line is `@@done`. With SCENARIST_SCREENSHOTS=DIR
// it also saves DIR/webchat-desktop.png (1280×800) and DIR/webchat-phone.png (390×844).

import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const QUIZ = process.env.WEBCHAT_QUIZ_URL;
const BOT = process.env.WEBCHAT_BOT_URL;
// Relative to the repository's root, where cargo runs the test from.
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const SHOTS = process.env.SCENARIST_SCREENSHOTS && path.resolve(ROOT, process.env.SCENARIST_SCREENSHOTS);
if (!QUIZ || !BOT) throw new Error('WEBCHAT_QUIZ_URL and WEBCHAT_BOT_URL must be set');
const TIMEOUT = 10000;

const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function askRunner(what) {
  console.log('@@' + what);
  const { value } = await stdin.next();
  if (value !== 'ok') throw new Error(`the runner answered ${JSON.stringify(value)} to ${what}`);
}

function check(condition, message) {
  if (!condition) throw new Error('check failed: ' + message);
}
async function step(name, body) {
  const started = Date.now();
  await body();
  console.log(`ok ${name} (${Date.now() - started} ms)`);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
// Every page is watched: a script error, a console error (a CSP violation is one) or a
// dialog (an injected alert()) fails the test.
const problems = [];
async function newPage(viewport, options = {}) {
  const context = await browser.newContext({ viewport, ...options });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  return { context, page };
}

// Polls `test` (async, true when done) until it holds.
async function until(test, what) {
  const deadline = Date.now() + TIMEOUT;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error('timed out waiting: ' + what);
    await new Promise((done) => setTimeout(done, 50));
  }
}

const bubbles = (page, who) => page.locator(`#log .msg.${who} .bubble`);
async function lastBotText(page) {
  return (await bubbles(page, 'bot').last().textContent()).replace(/^Bot: /, '');
}
async function waitForBot(page, text) {
  await page.locator('#log .msg.bot .bubble', { hasText: text }).last().waitFor();
}
async function typeAndSend(page, text) {
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
}
const activeLabel = (page) => page.evaluate(() => document.activeElement?.textContent ?? '');
async function noHorizontalScroll(page, what) {
  const sizes = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    log: document.getElementById('log').scrollWidth - document.getElementById('log').clientWidth,
    width: window.innerWidth,
  }));
  check(sizes.doc <= sizes.width && sizes.body <= sizes.width && sizes.log <= 0,
    `${what}: no horizontal scroll (${JSON.stringify(sizes)})`);
}

const answers = [
  ['Question 1 of 5', 'Mercury', 'Correct!'],
  ['Question 2 of 5', 'Jupiter', 'Right! Jupiter'],
  ['Question 3 of 5', 'Yuri Gagarin', 'Yes! Vostok 1'],
  ['Question 4 of 5', '8', 'Correct! Pluto'],
  ['Last one!', 'About 8 minutes', 'Exactly: about 8 minutes'],
];

// ---- the quiz, by clicking its buttons -------------------------------------------------------

const { page: quiz } = await newPage({ width: 1280, height: 800 });
await step('quiz played to the end', async () => {
  await quiz.goto(`${QUIZ}/chat?name=Ann&title=Space%20Quiz`);
  check(await quiz.title() === 'Space Quiz', 'the title from ?title=');
  check(await quiz.locator('#input').evaluate((e) => e === document.activeElement), 'the input has the focus');
  await typeAndSend(quiz, 'hi');
  await waitForBot(quiz, 'Shall we start?');
  check((await bubbles(quiz, 'user').last().textContent()).endsWith('hi'), 'the user message is shown');
  check((await bubbles(quiz, 'bot').first().textContent()).includes('Welcome to the Space Quiz, Ann!'), 'the name');
  await quiz.getByRole('button', { name: "Let's go!" }).click();
  for (const [question, answer, reply] of answers) {
    await waitForBot(quiz, question);
    const buttons = quiz.locator('#log .msg.bot').last().getByRole('button');
    check(await buttons.count() === 3, `three answers to ${question}`);
    await quiz.locator('#log .msg.bot').last().getByRole('button', { name: answer, exact: true }).click();
    await waitForBot(quiz, reply);
  }
  await waitForBot(quiz, 'You scored 5 of 5');
  // Only the latest message's buttons answer.
  check(await quiz.getByRole('button', { name: 'Mercury' }).isDisabled(), 'an old button is off');
  check(await quiz.getByRole('button', { name: 'Play again' }).isEnabled(), 'the new buttons are on');
  const link = quiz.getByRole('link', { name: /More about space/ });
  check(await link.getAttribute('href') === 'https://space.example.com/learn', 'the link URL');
  check(await link.getAttribute('target') === '_blank', 'a link opens a new tab');
  const rel = (await link.getAttribute('rel')).split(' ');
  check(rel.includes('noopener') && rel.includes('noreferrer'), 'rel=noopener noreferrer');
  if (SHOTS) {
    await quiz.locator('#input').blur();
    await quiz.mouse.move(0, 0);
    await quiz.waitForTimeout(150);
    await quiz.screenshot({ path: path.join(SHOTS, 'webchat-desktop.png') });
  }
  await quiz.getByRole('button', { name: 'Enough for today' }).click();
  await waitForBot(quiz, 'No problem!');
});

await step('history kept across a reload', async () => {
  const before = await quiz.locator('#log').innerText();
  const count = await quiz.locator('#log > *').count();
  await quiz.reload();
  await waitForBot(quiz, 'No problem!');
  check(await quiz.locator('#log').innerText() === before, 'the same conversation after a reload');
  check(await quiz.locator('#log > *').count() === count, 'nothing added or lost');
  check(await quiz.getByRole('button', { name: 'Play again' }).isDisabled(), 'a used button stays off');
});

// ---- keyboard only -------------------------------------------------------------------------

await step('keyboard only', async () => {
  const log = quiz.locator('#log');
  check(await log.getAttribute('role') === 'log' && await log.getAttribute('aria-live') === 'polite',
    'the conversation is a live log');
  check(await quiz.getByLabel('Your message').count() === 1, 'the input has a label');
  check(await quiz.getByRole('button', { name: 'Send' }).count() === 1, 'the send button has a name');
  await quiz.keyboard.press('Tab');
  check(await quiz.evaluate(() => document.activeElement.id) === 'send', 'Tab goes from the input to Send');
  await quiz.keyboard.press('Shift+Tab');
  check(await quiz.evaluate(() => document.activeElement.id) === 'input', 'Shift+Tab comes back');
  // Shift+Enter is a new line, not a send.
  const sent = await bubbles(quiz, 'user').count();
  await quiz.keyboard.type('line one');
  await quiz.keyboard.press('Shift+Enter');
  await quiz.keyboard.type('line two');
  check(await quiz.locator('#input').inputValue() === 'line one\nline two', 'Shift+Enter adds a line');
  check(await bubbles(quiz, 'user').count() === sent, 'Shift+Enter sends nothing');
  await quiz.keyboard.press('Control+A');
  await quiz.keyboard.press('Delete');
  await quiz.keyboard.type('/quiz');
  await quiz.keyboard.press('Enter');
  await quiz.locator('#log .msg.bot .bubble', { hasText: 'Welcome back, Ann!' }).waitFor();
  await quiz.getByRole('button', { name: 'Not now' }).last().waitFor();
  // Back from the input: the last message's buttons come before it.
  await quiz.keyboard.press('Shift+Tab');
  check(await activeLabel(quiz) === 'Not now', 'Shift+Tab reaches the last button');
  await quiz.keyboard.press('Shift+Tab');
  check(await activeLabel(quiz) === "Let's go!", 'and the one before');
  const outline = await quiz.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(outline !== 'none', `the focus is visible (outline ${outline})`);
  await quiz.keyboard.press('Enter');
  await waitForBot(quiz, 'Question 1 of 5');
  // After a press, the focus is on the answers of the reply.
  await quiz.waitForFunction(() => document.activeElement?.textContent === 'Venus');
  await quiz.keyboard.press('Tab');
  check(await activeLabel(quiz) === 'Mercury', 'Tab goes to the next answer');
  await quiz.keyboard.press('Enter');
  await waitForBot(quiz, 'Question 2 of 5');
  await quiz.waitForFunction(() => document.activeElement?.textContent === 'Saturn');
  await quiz.keyboard.press('Space');
  await quiz.locator('#log .msg.bot .bubble', { hasText: 'Saturn comes second' }).waitFor();
});

// ---- a phone -------------------------------------------------------------------------------

await step('phone size', async () => {
  const { page: phone } = await newPage({ width: 360, height: 640 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await phone.goto(`${QUIZ}/chat?name=Sam&title=Space%20Quiz`);
  await typeAndSend(phone, 'hi');
  await phone.getByRole('button', { name: "Let's go!" }).tap();
  await waitForBot(phone, 'Question 1 of 5');
  await noHorizontalScroll(phone, '360×640');
  const composer = await phone.locator('#composer').boundingBox();
  check(composer && composer.y + composer.height <= 640 && composer.width <= 360, 'the input is on the screen');
  for (const button of await phone.locator('#log .msg.bot').last().getByRole('button').all()) {
    const box = await button.boundingBox();
    check(box.x >= 0 && box.x + box.width <= 360 && box.height >= 40, 'answers fit and are big enough to tap');
  }
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.getByRole('button', { name: 'Mercury' }).tap();
  await waitForBot(phone, 'Question 2 of 5');
  await noHorizontalScroll(phone, '390×844');
  if (SHOTS) {
    await phone.locator('#input').blur();
    await phone.screenshot({ path: path.join(SHOTS, 'webchat-phone.png') });
  }
  await phone.context().close();
});

// ---- the test bot: text, attachments, reminders, a restart -------------------------------------

const { page: bot } = await newPage({ width: 1024, height: 768 });
await step('bot text is text', async () => {
  await bot.goto(`${BOT}/chat`);
  const attack = '<img src=x onerror="window.__xss=1"><b>bold</b>';
  await typeAndSend(bot, attack);
  await waitForBot(bot, 'You said:');
  check(await lastBotText(bot) === 'You said: ' + attack, 'the markup is shown as text');
  check(await bot.locator('#log .bubble img, #log .bubble b').count() === 0, 'no element was made of it');
  check(await bot.evaluate(() => window.__xss) === undefined, 'no script ran');
  await typeAndSend(bot, 'picture');
  await waitForBot(bot, 'Here is a picture and a file.');
  const img = bot.locator('#log .attachments img').last();
  check((await img.getAttribute('src')).startsWith('data:image/png;base64,'), 'the image is shown');
  check((await img.getAttribute('alt')).length > 0, 'the image has an alt text');
  await bot.waitForFunction(() => [...document.querySelectorAll('#log .attachments img')].every((i) => i.complete && i.naturalWidth > 0));
  const file = bot.getByRole('link', { name: 'Download Report.pdf' });
  check(await file.getAttribute('href') === 'https://files.example.com/report.pdf', 'the file link');
  check(await file.getAttribute('download') === 'Report.pdf', 'a download');
  check(await bot.getByRole('link', { name: /Docs/ }).count() === 1, 'the safe link is there');
  check(await bot.locator('a[href^="javascript:"]').count() === 0, 'a javascript: link is left out');
});

await step('reminders arrive live, also after a restart', async () => {
  const reminders = bot.locator('#log .msg.bot .bubble', { hasText: 'Reminder: stretch your legs!' });
  await typeAndSend(bot, 'remind me');
  await waitForBot(bot, "I'll remind you in a second.");
  check(await reminders.count() === 0, 'not yet');
  await reminders.first().waitFor();
  check(await bot.getByRole('button', { name: 'Done' }).isEnabled(), "the reminder's button works");
  // Another, and the server restarts before it is due: the page reconnects by itself and
  // shows it once, and the first one is not shown again.
  await typeAndSend(bot, 'remind me');
  await bot.locator('#log .msg.bot .bubble', { hasText: "I'll remind you in a second." }).nth(1).waitFor();
  await askRunner('restart-bot');
  await reminders.nth(1).waitFor({ timeout: 15000 });
  await bot.waitForTimeout(1500);
  check(await reminders.count() === 2, `two reminders, not ${await reminders.count()}`);
  await bot.getByRole('button', { name: 'Done' }).last().click();
  await waitForBot(bot, 'You said: Done');
  await bot.reload();
  await waitForBot(bot, 'You said: Done');
  check(await reminders.count() === 2, 'still two after a reload');
});

// ---- the widget on another site --------------------------------------------------------------

await step('widget on a host page', async () => {
  // The host page is on an origin of its own, with styles that would clash with a careless
  // widget, and an element of its own fixed over the corner.
  const hostPage = `<!doctype html><html><head><title>Host</title><link rel="icon" href="data:,">
<style>
  * { font-family: serif !important; box-sizing: content-box; }
  button { background: red !important; font-size: 40px !important; padding: 30px !important; }
  iframe { border: 20px solid lime; }
  .corner { position: fixed; right: 0; bottom: 0; width: 200px; height: 200px; z-index: 999999; background: rgba(0,0,0,.1); }
</style></head><body>
<h1>A shop</h1><p><a href="#top" id="first">A link of the host page</a></p>
<div class="corner"></div>
<script src="${BOT}/widget.js" data-title="Help" data-user-name="Widget tester"></script>
</body></html>`;
  const server = http.createServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(hostPage);
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  try {
    const { page } = await newPage({ width: 1280, height: 800 });
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.getByRole('button', { name: 'Open chat' }).waitFor();
    const launcher = page.locator('scenarist-chat .launcher');
    const style = await launcher.evaluate((b) => {
      const s = getComputedStyle(b);
      return { background: s.backgroundColor, font: s.fontFamily, size: s.fontSize };
    });
    check(style.background === 'rgb(47, 85, 212)' && style.font.startsWith('system-ui'),
      `the host's styles do not reach the launcher (${JSON.stringify(style)})`);
    const box = await launcher.boundingBox();
    const onTop = await page.evaluate(([x, y]) => document.elementFromPoint(x, y)?.tagName, [box.x + box.width / 2, box.y + box.height / 2]);
    check(onTop === 'SCENARIST-CHAT', `the launcher is above the host's own fixed element (${onTop})`);
    check(await page.locator('iframe').count() === 0, 'no chat until it is opened');
    // Keyboard: from the host's link, Tab reaches the launcher, Enter opens it.
    await page.locator('#first').focus();
    await page.keyboard.press('Tab');
    check(await launcher.evaluate((b) => b.getRootNode().activeElement === b), 'Tab reaches the launcher');
    await page.keyboard.press('Enter');
    const frameElement = page.locator('scenarist-chat iframe');
    await frameElement.waitFor();
    check(new URL(await frameElement.getAttribute('src')).origin === new URL(BOT).origin,
      "the chat's origin comes from the script's src");
    check(await launcher.getAttribute('aria-expanded') === 'true', 'the launcher says the panel is open');
    const frame = page.frameLocator('scenarist-chat iframe');
    await frame.locator('#input').waitFor();
    await until(() => frame.locator('#input').evaluate((e) => e === document.activeElement && document.hasFocus()),
      'the chat input has the focus');
    await page.keyboard.type('hello from the widget');
    await page.keyboard.press('Enter');
    await frame.locator('#log .msg.bot .bubble', { hasText: 'You said: hello from the widget' }).waitFor();
    check(await frame.locator('.bar').isHidden(), 'the panel has its own title bar');
    // Escape closes it, and the focus goes back to the launcher.
    await page.keyboard.press('Escape');
    await page.locator('scenarist-chat .panel').waitFor({ state: 'hidden' });
    check(await launcher.evaluate((b) => b.getRootNode().activeElement === b), 'the focus is back on the launcher');
    await page.context().close();
  } finally {
    server.close();
  }
});

await browser.close();
check(problems.length === 0, 'no errors in the pages:\n' + problems.join('\n'));
console.log('@@done');
process.exit(0);
