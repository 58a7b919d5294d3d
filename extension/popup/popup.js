// The toolbar button's popup: who I am, who is online, transfers, invites.

import { Kith } from "../shared/client.js";
import { h, t, localize, progressBar } from "../shared/dom.js";
import { bytes, percent } from "../shared/format.js";
import { renderConnection, invitePanel } from "../shared/panels.js";

const kith = new Kith();
const $ = (id) => document.getElementById(id);
const progress = new Map();

localize();
$("open-sidebar").addEventListener("click", () => {
  browser.sidebarAction.open();
  window.close();
});
$("copy-id").addEventListener("click", () => navigator.clipboard.writeText($("my-id").textContent));
$("invites").append(invitePanel(kith));

// Desktop notifications for new comments and reactions: on unless turned off here.
browser.storage.local.get({ notifyComments: true }).then((s) => ($("notify-comments").checked = s.notifyComments));
$("notify-comments").addEventListener("change", (ev) => browser.storage.local.set({ notifyComments: ev.target.checked }));

kith.onState(async (state) => {
  const ready = renderConnection($("connection"), state, kith);
  $("ready").hidden = !ready;
  if (!ready) return;
  $("my-name").textContent = state.me.name;
  $("my-id").textContent = state.me.peer_id;
  await Promise.all([loadFriends(), loadTransfers()]);
});

kith.onEvent((e) => {
  if (e.event.startsWith("friend_")) loadFriends();
  if (e.event === "fetch_progress") {
    progress.set(e.id, e);
    loadTransfers();
  }
  if (e.event === "fetch_done" || e.event === "fetch_failed") {
    progress.delete(e.id);
    loadTransfers();
  }
});

async function loadFriends() {
  const friends = await kith.call("friends").catch(() => []);
  const online = friends.filter((f) => f.online);
  $("online").replaceChildren(
    ...(online.length
      ? online.map((f) => h("li", {}, h("span", { class: "dot on" }), h("span", { class: "ellipsis", text: f.name })))
      : [h("li", { class: "muted", text: friends.length ? t("noneOnline") : t("noFriendsYet") })]),
  );
}

async function loadTransfers() {
  const list = await kith.call("transfers").catch(() => []);
  const running = list.filter((x) => x.running);
  $("transfers-box").hidden = running.length === 0;
  $("transfers").replaceChildren(...running.map((x) => {
    const p = progress.get(x.target) || { bytes: x.bytes, total: x.total };
    return h("li", { class: "stack" },
      h("div", { class: "row" }, h("span", { class: "mono grow ellipsis", text: x.target.slice(0, 16) }),
        h("span", { class: "muted", text: `${bytes(p.bytes)} / ${bytes(p.total)} (${percent(p.bytes, p.total)}%)` })),
      progressBar(p.bytes, p.total));
  }));
}
