/* dsn-inbox: the live unread badge and dropdown. No dependencies, no build step.
 *
 * <dsn-inbox-badge> and <dsn-inbox> are rendered by the template tags {% dsn_inbox_badge %} and
 * {% dsn_inbox %} as plain HTML that works without this script; the script makes them live.
 * One connection per page, shared by every element: server-sent events from data-stream,
 * reconnecting with exponential backoff; after three failed attempts in a row (a WSGI server
 * answers 503, a proxy buffers) it polls data-unread-url instead, and tries the stream again
 * every few minutes.
 */
(function () {
  "use strict";
  if (window.customElements === undefined || customElements.get("dsn-inbox-badge")) return;

  var POLL_MS = 5000, MAX_BACKOFF_MS = 30000, FAILURES_BEFORE_POLLING = 3, RETRY_STREAM_MS = 180000;

  /* The shared connection: tells every listener the unread count and each new item. */
  var live = {
    listeners: [], source: null, failures: 0, timer: null, polling: false, started: false, urls: null,

    subscribe: function (element) {
      this.listeners.push(element);
      if (!this.started) {
        this.started = true;
        this.urls = { stream: element.dataset.stream, unread: element.dataset.unreadUrl };
        this.connect();
      }
    },
    unsubscribe: function (element) {
      this.listeners = this.listeners.filter(function (l) { return l !== element; });
    },
    count: function (n) {
      this.listeners.forEach(function (l) { l.showCount(n); });
    },
    item: function (data) {
      this.listeners.forEach(function (l) { if (l.addItem) l.addItem(data); });
    },
    connect: function () {
      var self = this;
      if (!window.EventSource || !this.urls.stream) return this.poll();
      var source = this.source = new EventSource(this.urls.stream, { withCredentials: true });
      source.addEventListener("open", function () { self.failures = 0; });
      source.addEventListener("count", function (e) { self.failures = 0; self.count(JSON.parse(e.data).unread); });
      source.addEventListener("item", function (e) { self.item(JSON.parse(e.data)); });
      source.addEventListener("error", function () {
        source.close();
        self.source = null;
        self.failures += 1;
        if (self.failures >= FAILURES_BEFORE_POLLING) {
          self.poll();
          setTimeout(function () { self.polling = false; self.failures = 0; self.connect(); }, RETRY_STREAM_MS);
          return;
        }
        var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, self.failures - 1));
        setTimeout(function () { self.connect(); }, delay * (0.5 + Math.random() / 2));
      });
    },
    poll: function () {
      var self = this;
      if (this.polling) return;
      this.polling = true;
      var tick = function (wait) {
        if (!self.polling) return;
        self.timer = setTimeout(function () {
          self.refresh().then(function () { tick(POLL_MS); }, function () { tick(Math.min(wait * 2, MAX_BACKOFF_MS)); });
        }, wait);
      };
      this.refresh().then(function () { tick(POLL_MS); }, function () { tick(POLL_MS); });
    },
    refresh: function () {
      var self = this;
      return fetch(this.urls.unread, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (body) { self.count(body.unread); });
    }
  };

  function csrfToken(element) {
    if (element.dataset.csrf) return element.dataset.csrf;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function post(element, url, data) {
    var body = new URLSearchParams(data || {});
    return fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRFToken": csrfToken(element), Accept: "application/json" }
    }).then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (reply) { live.count(reply.unread); return reply; });
  }

  /* {% dsn_inbox_badge %}: a link with the count. */
  class InboxBadge extends HTMLElement {
    connectedCallback() {
      this.counter = this.querySelector(".dsn-inbox-count");
      this.label = this.querySelector(".dsn-inbox-label");
      live.subscribe(this);
    }
    disconnectedCallback() { live.unsubscribe(this); }
    showCount(n) {
      this.dataset.unread = String(n);
      if (!this.counter) return;
      if (this.counter.textContent !== String(n)) this.counter.textContent = String(n);
      this.counter.hidden = n === 0;
      if (this.label) this.label.hidden = n === 0;
      var link = this.querySelector("a");
      if (link) link.setAttribute("aria-label", n === 0 ? "Notifications" : "Notifications, " + n + " unread");
    }
  }

  /* {% dsn_inbox %}: the badge as a toggle, a panel listing the newest items. */
  class Inbox extends InboxBadge {
    connectedCallback() {
      super.connectedCallback();
      var self = this;
      this.toggle = this.querySelector(".dsn-inbox-toggle");
      this.panel = this.querySelector(".dsn-inbox-panel");
      this.list = this.querySelector(".dsn-inbox-list");
      if (this.toggle && this.panel) {
        this.toggle.setAttribute("role", "button");
        this.toggle.addEventListener("click", function (e) { e.preventDefault(); self.setOpen(self.panel.hidden); });
        this.toggle.addEventListener("keydown", function (e) {
          if (e.key === " ") { e.preventDefault(); self.setOpen(self.panel.hidden); }
        });
      }
      document.addEventListener("keydown", function (e) {
        if (e.key === "Escape" && self.panel && !self.panel.hidden) { self.setOpen(false); self.toggle.focus(); }
      });
      this.addEventListener("click", function (e) {
        var mark = e.target.closest(".dsn-inbox-mark");
        if (mark) {
          post(self, self.dataset.itemsUrl + mark.dataset.id + "/read/").then(function () { self.markedRead(mark); });
        } else if (e.target.closest(".dsn-inbox-read-all")) {
          var newest = self.list && self.list.querySelector(".dsn-inbox-item");
          post(self, self.dataset.readAllUrl, newest ? { up_to: newest.dataset.id } : {}).then(function () {
            self.querySelectorAll(".dsn-inbox-mark").forEach(function (b) { self.markedRead(b); });
          });
        }
      });
      document.addEventListener("click", function (e) {
        if (self.panel && !self.panel.hidden && !self.contains(e.target)) self.setOpen(false);
      });
    }
    setOpen(open) {
      this.panel.hidden = !open;
      this.toggle.setAttribute("aria-expanded", String(open));
      if (open) {
        var first = this.panel.querySelector("a, button");
        if (first) first.focus();
      }
    }
    markedRead(button) {
      var li = button.closest(".dsn-inbox-item");
      var hadFocus = document.activeElement === button;
      if (li) li.classList.remove("dsn-inbox-unread");
      button.remove();
      if (hadFocus) {  /* keep the keyboard user in the panel, not thrown back to the page */
        var next = (li && li.querySelector("a")) || this.panel.querySelector("a, button") || this.toggle;
        next.focus();
      }
    }
    addItem(data) {
      if (!this.list || this.list.querySelector('[data-id="' + data.id + '"]')) return;
      var empty = this.list.querySelector(".dsn-inbox-empty");
      if (empty) empty.remove();
      var li = document.createElement("li");
      li.className = "dsn-inbox-item dsn-inbox-" + data.level + (data.read ? "" : " dsn-inbox-unread");
      li.dataset.id = data.id;
      var strong = document.createElement("strong");
      strong.className = "dsn-inbox-subject";
      strong.textContent = data.subject || data.text;
      if (data.link) {
        var a = document.createElement("a");
        a.href = data.link;  /* the server only stores site paths and http(s) links */
        a.appendChild(strong);
        li.appendChild(a);
      } else {
        li.appendChild(strong);
      }
      if (data.subject && data.text) {
        var span = document.createElement("span");
        span.className = "dsn-inbox-text";
        span.textContent = " " + data.text;
        li.appendChild(span);
      }
      if (!data.read) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "dsn-inbox-mark";
        button.dataset.id = data.id;
        button.textContent = "Mark read";
        li.appendChild(document.createTextNode(" "));
        li.appendChild(button);
      }
      this.list.insertBefore(li, this.list.firstChild);
    }
  }

  customElements.define("dsn-inbox-badge", InboxBadge);
  customElements.define("dsn-inbox", Inbox);
})();
