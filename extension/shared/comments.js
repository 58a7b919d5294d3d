// Comments and reactions on an album or on one of its items: the thread, its reaction bar and
// the box to write in. One module for the sidebar (under each album) and the gallery tab (under
// the album and under the viewer). Peer text (names, comments) goes in with textContent only.

import { h, t } from "./dom.js";
import { errorText } from "./client.js";
import { agoMs, dateMs, shortId } from "./format.js";

/** The node's fixed set of reactions (the heart is U+2764 U+FE0F). */
export const REACTIONS = ["❤️", "👍", "😂", "😮", "😢", "🎉"];
/** The node answers at most 500 comments a reply. */
const PAGE = 500;
/** Longest comment the node takes, in characters. */
const MAX_TEXT = 2000;

/** Thread order: by the owner's `seq`, then the pending ones (no `seq` yet) by time. */
export function threadOrder(a, b) {
  const pa = a.seq === null || a.seq === undefined;
  const pb = b.seq === null || b.seq === undefined;
  if (pa !== pb) return pa ? 1 : -1;
  if (!pa && a.seq !== b.seq) return a.seq - b.seq;
  return (a.at || 0) - (b.at || 0);
}

/** The name to show for a comment's author (peer text). */
function author(c) {
  return c.author_name || shortId(c.author) || t("someone");
}

/** `album_read` for an album, at most once per moment however many threads ask. */
const readTimers = new Map();
export function markRead(kith, album, then = () => {}) {
  clearTimeout(readTimers.get(album));
  readTimers.set(album, setTimeout(() => {
    readTimers.delete(album);
    kith.call("album_read", { album }).then(then, () => {});
  }, 250));
}

/** Relative times ("2 min. ago") are written again every minute. */
let ticking = false;
function tick() {
  if (ticking) return;
  ticking = true;
  setInterval(() => {
    for (const el of document.querySelectorAll("time.c-time[data-at]")) el.textContent = agoMs(Number(el.dataset.at));
  }, 60_000);
}

/**
 * The comments on an album (`item` null: all its comments, those on items with a note naming
 * the item) or on one item. `el` is the element to place; `load()` asks the node; the page
 * hands each node event to `handleEvent(e)`.
 */
export class CommentsPanel {
  /**
   * @param kith the page's `Kith`
   * @param opts `album` (ID); `item` (ID or null); `owner` (I own the album: hide/show);
   *   `collapsible` (a toggle with the count, closed at first); `names` (Map item ID → name);
   *   `onItem(itemId, commentId)` when a note naming an item is clicked; `onRead()` after
   *   `album_read` (sent when the thread is shown, and when a new comment arrives while shown)
   */
  constructor(kith, opts) {
    this.kith = kith;
    this.album = opts.album;
    this.item = opts.item || null;
    this.owner = Boolean(opts.owner);
    this.names = opts.names || null;
    this.onItem = opts.onItem || null;
    this.onRead = opts.onRead || (() => {});
    this.collapsible = Boolean(opts.collapsible);
    this.open = !this.collapsible;
    /** The thread as the node gave it, in thread order; deleted ones left out. */
    this.comments = [];
    /** Comments before the ones listed (threads longer than a reply). */
    this.skipped = 0;
    this.loaded = false;
    this.loading = null;
    /** Events that came while loading, merged after. */
    this.early = [];
    /** The ID of my comment being edited, or null. */
    this.editing = null;
    /** A comment to show and mark once the thread is here. */
    this.highlightId = null;
    this.busy = false;
    this.namesAsked = false;
    /** An unread comment came while the page was hidden: read once it is shown. */
    this.unseen = false;
    document.addEventListener("visibilitychange", () => {
      if (this.unseen && this.open && document.visibilityState === "visible") this.seen();
    });
    tick();

    this.toggle = this.collapsible
      ? h("button", { class: "c-toggle", attrs: { "aria-expanded": "false" }, onclick: () => this.setOpen(!this.open) })
      : null;
    this.bar = h("div", { class: "reactions row wrap", attrs: { role: "group", "aria-label": t("reactionsLabel") } });
    this.list = h("ul", { class: "list c-list", attrs: { "aria-label": t("comments") } });
    this.input = h("textarea", { class: "c-input", rows: 2, maxLength: MAX_TEXT, attrs: { "aria-label": t("commentPlaceholder") } });
    this.input.placeholder = t("commentPlaceholder");
    this.input.title = t("commentKeys");
    this.input.addEventListener("keydown", (ev) => this.key(ev));
    this.hint = h("div", { class: "c-hint muted", hidden: true },
      h("span", { class: "grow", text: t("editingHint") }),
      h("button", { class: "c-cancel", text: t("cancel"), onclick: () => this.cancelEdit() }));
    this.send = h("button", { class: "c-send primary", text: t("send"), onclick: () => this.submit() });
    this.error = h("p", { class: "error c-error", attrs: { role: "alert" } });
    this.body = h("div", { class: "c-body stack", hidden: !this.open },
      this.bar, this.list, this.hint, h("div", { class: "row c-write" }, this.input, this.send), this.error);
    this.el = h("div", { class: "comments", dataset: { album: this.album, item: this.item || "" } }, this.toggle, this.body);
    this.render();
  }

  get target() {
    return this.item || this.album;
  }

  /** Whether a comment belongs in this thread. */
  mine(c) {
    return c && c.album === this.album && (!this.item || c.item === this.item);
  }

  /** Asks the node for the thread (the newest 500 when longer). */
  load() {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        // `album` picks this album when the item is in several.
        const ask = this.item ? { target: this.item, album: this.album } : { target: this.album };
        // A reply holds at most PAGE comments and at most 768 KiB of them: page on from
        // where each reply stopped, starting at the newest PAGE.
        let r = await this.kith.call("comments", { ...ask, limit: PAGE });
        const start = Math.max(0, r.total - PAGE);
        const got = start === 0 ? [...r.comments] : [];
        let next = start === 0 ? r.comments.length : start;
        while (next < r.total) {
          const more = await this.kith.call("comments", { ...ask, offset: next, limit: PAGE });
          if (!more.comments.length) break;
          got.push(...more.comments);
          next += more.comments.length;
        }
        this.comments = got.filter((c) => this.mine(c) && !c.deleted).sort(threadOrder);
        this.skipped = start;
        this.loaded = true;
        this.error.textContent = "";
      } catch (e) {
        this.error.textContent = errorText(e);
      } finally {
        this.loading = null;
      }
      for (const c of this.early.splice(0)) this.merge(c);
      this.render();
      if (this.open) this.seen();
      this.showHighlight();
    })();
    return this.loading;
  }

  /** Takes a node event; true when it was about this thread. */
  handleEvent(e) {
    if (e && e.event === "comment_failed" && e.album === this.album) return this.failed(e);
    if (!e || e.event !== "comment" || !this.mine(e.comment)) return false;
    if (this.loading) this.early.push(e.comment);
    this.merge(e.comment);
    this.render();
    if (e.comment.unread && this.open) {
      if (document.visibilityState === "visible") this.seen();
      else this.unseen = true;
    }
    return true;
  }

  /** The owner refused a pending comment of mine: it leaves, and the page says why. */
  failed(e) {
    const i = this.comments.findIndex((x) => x.id === e.id);
    if (i < 0) return false;
    this.comments.splice(i, 1);
    this.error.textContent = t("commentRefused", errorText(e.error));
    this.render();
    return true;
  }

  /** Puts a comment (new or changed) in its place; a deleted one leaves. */
  merge(c) {
    if (!this.mine(c)) return;
    const i = this.comments.findIndex((x) => x.id === c.id);
    if (c.deleted) {
      if (i >= 0) this.comments.splice(i, 1);
      return;
    }
    if (i >= 0) this.comments[i] = c;
    else this.comments.push(c);
    this.comments.sort(threadOrder);
  }

  /** Opens or closes a collapsible thread; opening it marks the album read. */
  setOpen(open) {
    this.open = open;
    this.body.hidden = !open;
    if (open) {
      if (!this.loaded) this.load();
      else this.seen();
    }
    this.render();
  }

  /** The thread was shown: the album is read. */
  seen() {
    this.unseen = false;
    markRead(this.kith, this.album, () => this.onRead());
  }

  /** Shows and marks one comment (from a notification) once it is here. */
  highlight(id) {
    this.highlightId = id;
    if (this.collapsible && !this.open) this.setOpen(true);
    this.showHighlight();
  }

  showHighlight() {
    if (!this.highlightId || !this.loaded) return;
    const li = [...this.list.children].find((x) => x.dataset.id === this.highlightId);
    if (!li) return;
    this.highlightId = null;
    li.classList.add("highlight");
    li.scrollIntoView({ block: "center" });
  }

  /** Text comments (reactions are counted on their buttons). */
  get texts() {
    return this.comments.filter((c) => !c.reaction);
  }

  render() {
    const count = this.texts.length + (this.skipped > 0 ? this.skipped : 0);
    if (this.toggle) {
      this.toggle.textContent = count ? t("commentsCount", count) : t("comments");
      this.toggle.setAttribute("aria-expanded", String(this.open));
    }
    this.renderBar();
    const rows = [];
    if (this.skipped > 0) rows.push(h("li", { class: "muted", text: t("earlierComments", this.skipped) }));
    // On an album, reactions to its items are listed too (with their item); its own are on the bar.
    for (const c of this.comments) if (!c.reaction || (!this.item && c.item)) rows.push(this.row(c));
    if (this.loaded && !rows.length) rows.push(h("li", { class: "muted c-none", text: t("noComments") }));
    this.list.replaceChildren(...rows);
    this.input.disabled = this.busy;
    this.send.disabled = this.busy;
    this.hint.hidden = !this.editing;
    if (!this.item && !this.namesAsked && this.comments.some((c) => c.item && !(this.names && this.names.has(c.item)))) {
      this.loadNames();
    }
  }

  /** Item names for the notes, asked once (the album's first page of items). */
  async loadNames() {
    this.namesAsked = true;
    try {
      const page = await this.kith.call("album", { album: this.album, limit: PAGE });
      this.names = new Map([...(this.names || new Map()), ...page.items.map((i) => [i.id, i.name.split("/").pop()])]);
      this.render();
    } catch {
      // The note then says "an item".
    }
  }

  /** The reaction buttons of this album or item: count, and whether I reacted. */
  renderBar() {
    const own = this.comments.filter((c) => c.reaction && (this.item ? c.item === this.item : !c.item));
    this.bar.replaceChildren(...REACTIONS.map((emoji) => {
      const all = own.filter((c) => c.reaction === emoji);
      const shown = all.filter((c) => !c.hidden);
      const mine = all.find((c) => c.mine);
      const names = shown.map(author);
      const label = shown.length ? t("reactedBy", emoji, names.join(", ")) : t("reactWith", emoji);
      return h("button", {
        class: ["reaction", mine ? "mine" : "", shown.some((c) => c.unread) ? "new" : ""].join(" ").trim(),
        dataset: { emoji },
        disabled: this.busy,
        title: label,
        attrs: { "aria-pressed": String(Boolean(mine)), "aria-label": label },
        onclick: () => this.react(emoji, mine),
      }, h("span", { text: emoji }), shown.length ? h("span", { class: "r-count", text: String(shown.length) }) : null);
    }));
  }

  /** One comment of the list. */
  row(c) {
    const who = author(c);
    // A hidden comment reaches the album's members without its time (and author).
    const at = typeof c.at === "number" ? c.at : NaN;
    const head = h("div", { class: "c-head row wrap" },
      h("span", { class: "c-author", text: who }),
      c.author_verified ? h("span", { class: "c-verified", text: "✓", title: t("verifiedTip"), attrs: { "aria-label": t("verifiedTip") } }) : null,
      Number.isFinite(at)
        ? h("time", { class: "c-time muted", text: agoMs(at), title: dateMs(at), dataset: { at: String(at) }, attrs: { datetime: new Date(at).toISOString() } })
        : null,
      c.edited ? h("span", { class: "c-edited muted", text: t("edited"), title: dateMs(c.edited) }) : null,
      c.unread ? h("span", { class: "badge c-new", text: t("newMarker") }) : null,
      c.pending ? h("span", { class: "c-pending muted", text: t("pending"), title: t("pendingTip") }) : null,
      c.hidden ? h("span", { class: "c-hidden muted", text: t("hiddenByOwner") }) : null);
    const note = !this.item && c.item
      ? h("button", {
          class: "c-on-item link",
          text: t("onItem", (this.names && this.names.get(c.item)) || t("anItem")),
          onclick: () => this.onItem && this.onItem(c.item, c.id),
        })
      : null;
    const body = c.reaction
      ? h("div", { class: "c-text c-reacted", text: t("reacted", c.reaction) })
      : c.text ? h("div", { class: "c-text", text: c.text }) : null;
    const actions = [];
    if (c.mine && !c.reaction) {
      actions.push(h("button", { class: "c-edit small", text: t("edit"), onclick: () => this.edit(c) }));
      const del = h("button", {
        class: "c-delete small danger",
        text: t("delete"),
        onclick: () => {
          if (del.dataset.sure) this.act("comment_delete", { comment: c.id });
          else {
            del.dataset.sure = "1";
            del.textContent = t("deleteConfirm");
          }
        },
      });
      actions.push(del);
    }
    if (this.owner) {
      actions.push(h("button", {
        class: "c-hide small",
        text: c.hidden ? t("show") : t("hide"),
        onclick: () => this.act("comment_hide", { comment: c.id, hidden: !c.hidden }),
      }));
    }
    const cls = ["comment", c.unread ? "unread" : "", c.pending ? "pending" : "", c.hidden ? "hidden-by-owner" : "", c.mine ? "by-me" : ""];
    return h("li", { class: cls.join(" ").replace(/\s+/g, " ").trim(), dataset: { id: c.id } },
      head, note, body, actions.length ? h("div", { class: "c-actions row" }, ...actions) : null);
  }

  key(ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      this.submit();
    } else if (ev.key === "Escape" && this.editing) {
      ev.preventDefault();
      ev.stopPropagation();
      this.cancelEdit();
    }
  }

  edit(c) {
    this.editing = c.id;
    this.input.value = c.text;
    this.render();
    this.input.focus();
  }

  cancelEdit() {
    this.editing = null;
    this.input.value = "";
    this.render();
  }

  /** Posts the box's text (or saves the edit); Enter does this. */
  async submit() {
    const text = this.input.value.trim();
    if (!text || this.busy) return;
    if ([...text].length > MAX_TEXT) {
      this.error.textContent = t("commentTooLong", MAX_TEXT);
      return;
    }
    const ok = this.editing
      ? await this.act("comment_edit", { comment: this.editing, text })
      : await this.act("comment", this.post({ text }));
    if (ok) {
      this.input.value = "";
      this.editing = null;
      this.render();
    }
    this.input.focus();
  }

  /** The arguments of `comment` for this thread. */
  post(what) {
    return this.item ? { target: this.item, album: this.album, ...what } : { target: this.album, ...what };
  }

  /** Gives the reaction, or takes mine back. */
  react(emoji, mine) {
    if (mine) this.act("comment_delete", { comment: mine.id });
    else this.act("comment", this.post({ reaction: emoji }));
  }

  /** Sends one command whose answer is `{comment}`, and puts the comment in its place. */
  async act(cmd, args) {
    this.busy = true;
    this.error.textContent = "";
    this.render();
    try {
      const r = await this.kith.call(cmd, args);
      if (r && r.comment) this.merge(r.comment);
      return true;
    } catch (e) {
      this.error.textContent = errorText(e);
      return false;
    } finally {
      this.busy = false;
      this.render();
    }
  }
}
