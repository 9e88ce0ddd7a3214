// The little behaviour the pages need beyond htmx: dialogs, the selection bar, the
// advanced-filter toggle and the live notification count. No inline scripts (the CSP
// forbids them) and no UI texts here: texts come from data-* attributes of the page.
"use strict";

(function () {
  function each(root, selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function format(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  // Dialogs: <button data-dialog="id"> opens <dialog id>; [data-close] closes it. A modal
  // <dialog> keeps focus inside and closes with Escape by itself; focus goes back to the
  // button that opened it.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog"));
      if (dialog && typeof dialog.showModal === "function") {
        event.preventDefault();
        dialog.returnFocusTo = opener;
        if (dialog.open) dialog.close();
        dialog.showModal();
        var first = dialog.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button");
        if (first) first.focus();
      }
      return;
    }
    var closer = event.target.closest("[data-close]");
    if (closer) {
      var open = closer.closest("dialog");
      if (open) { event.preventDefault(); open.close(); }
    }
  });
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (dialog.tagName === "DIALOG" && dialog.returnFocusTo && document.contains(dialog.returnFocusTo)) {
      dialog.returnFocusTo.focus();
    }
  }, true);

  // Tab and Shift+Tab go round inside an open dialog (WAI-ARIA "Dialog (Modal)"): a modal
  // <dialog> makes the page behind it inert, but Tab would still leave it for the browser.
  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), " +
    "select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    var dialog = document.querySelector("dialog[open]");
    if (!dialog) return;
    var items = Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (el) {
      return el.offsetParent !== null;
    });
    if (!items.length) return;
    var first = items[0];
    var last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });

  // A dialog whose content htmx just swapped in with data-open shows itself.
  function openMarkedDialogs(root) {
    each(root, "dialog[data-open]", function (dialog) {
      dialog.removeAttribute("data-open");
      if (!dialog.open) dialog.showModal();
      var first = dialog.querySelector(".field.has-error input, .field.has-error select, [autofocus], input:not([type=hidden])");
      if (first) first.focus();
    });
  }

  // Toggles: <button aria-controls="id" aria-expanded> shows and hides the element.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("button[data-toggle]");
    if (!toggle) return;
    var target = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!target) return;
    var expanded = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", expanded ? "false" : "true");
    target.hidden = expanded;
    if (!expanded) {
      var first = target.querySelector("input, select, button");
      if (first) first.focus();
    }
  });

  // The selection of a list: checkboxes [data-select] inside [data-selection]; the bar
  // shows when any is checked. [data-select-all] checks the rows shown; the
  // "all matching" choice sets the form's scope to the filter (resolved by the server).
  function updateSelection(container) {
    var boxes = container.querySelectorAll("input[data-select]");
    var checked = 0;
    Array.prototype.forEach.call(boxes, function (box) { if (box.checked) checked += 1; });
    var all = container.querySelector("input[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    var scope = container.querySelector("input[name=scope]");
    var matching = container.querySelector("input[data-select-matching]");
    if (matching && checked === 0) matching.checked = false;
    var everything = matching && matching.checked;
    if (scope) scope.value = everything ? "filter" : "ids";
    var bar = container.querySelector("[data-action-bar]");
    if (bar) {
      bar.hidden = checked === 0;
      var count = bar.querySelector("[data-selected-count]");
      if (count) {
        count.textContent = everything
          ? count.getAttribute("data-text-matching")
          : format(count.getAttribute("data-text-selected"), { n: checked });
      }
    }
    each(container, "[data-selection-count]", function (el) {
      el.textContent = everything
        ? el.getAttribute("data-text-matching")
        : format(el.getAttribute("data-text-selected"), { n: checked });
    });
  }

  document.addEventListener("change", function (event) {
    var container = event.target.closest("[data-selection]");
    if (!container) return;
    if (event.target.matches("input[data-select-all]")) {
      each(container, "input[data-select]", function (box) { box.checked = event.target.checked; });
    }
    updateSelection(container);
  });

  // The live notification count: the stream sends one event per new notification.
  function startStream() {
    var url = document.body.getAttribute("data-stream");
    if (!url || typeof window.EventSource !== "function") return;
    var source = new window.EventSource(url);
    source.addEventListener("notification", function (event) {
      var badge = document.getElementById("unread-count");
      var data = {};
      try { data = JSON.parse(event.data); } catch (e) { data = {}; }
      if (badge) {
        var unread = parseInt(badge.getAttribute("data-unread") || "0", 10) + 1;
        badge.setAttribute("data-unread", String(unread));
        badge.textContent = String(unread);
      }
      var link = document.getElementById("notifications-link");
      announce(format(link && link.getAttribute("data-text-new"), { title: data.title || "" }));
      var list = document.getElementById("notification-list");
      if (list && window.htmx) window.htmx.trigger(list, "refresh");
      // a reminder fell due: the reminders page shows it marked at once, not at its next poll
      var reminders = document.getElementById("reminder-list");
      if (reminders && window.htmx && data.kind === "reminder_due") {
        window.htmx.trigger(reminders, "refresh");
      }
    });
    source.addEventListener("ready", function () {
      document.body.setAttribute("data-stream-ready", "true");
    });
  }

  // A link to one row further down a contact's page (a reminder's procedure or
  // interaction, #procedure-<id>): those sections come after the page, so once they are
  // there the row is brought into view and given the focus; a row not among those shown
  // leads to its section. Once per page, so later changes do not move the focus.
  var SECTION_OF_ROW = { procedure: "kontaktvorgaenge", interaction: "interaktionen" };
  var targetPending = window.location.hash.length > 1;
  function showTarget() {
    if (!targetPending || document.querySelector("[aria-busy=true]")) return;
    targetPending = false;
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = document.getElementById(id);
    var row = /^(procedure|interaction)-/.exec(id);
    if (!target && row) target = document.getElementById(SECTION_OF_ROW[row[1]]);
    if (!target) return;
    target.scrollIntoView({ block: "start" });
    if (target.getAttribute("tabindex") === "-1") target.focus({ preventScroll: true });
  }
  // Drafts: what was typed into a form whose answer was "sign in first" (the session had
  // ended) is kept in this tab's sessionStorage, and put back into the same form (found
  // by its action) on the page the sign-in leads back to. It is never sent by itself:
  // the person checks it and sends it again. An htmx request learns of the sign-in from
  // its answer (the event "login-required" of HX-Trigger, before HX-Redirect); a plain
  // form's submission is kept as pending and becomes a draft only if it lands on the
  // sign-in page. Forms shown by a request of their own (a section's "Neu") name it in
  // data-reopen. Only the staff pages (body[data-drafts]) keep drafts.
  var DRAFT = "crm-draft";
  var DRAFT_MINUTES = 60;
  function readDraft() {
    try { return JSON.parse(window.sessionStorage.getItem(DRAFT) || "null"); } catch (e) { return null; }
  }
  function writeDraft(draft) {
    try {
      if (draft) window.sessionStorage.setItem(DRAFT, JSON.stringify(draft));
      else window.sessionStorage.removeItem(DRAFT);
    } catch (e) { /* storage refused (private mode): nothing kept */ }
  }
  var NOT_TYPED = ["hidden", "password", "file", "submit", "button", "reset", "image"];
  function draftOf(form, pending) {
    if (!document.body.hasAttribute("data-drafts")) return null;
    if (!form || form.tagName !== "FORM" || (form.getAttribute("method") || "").toLowerCase() !== "post") return null;
    var fields = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || NOT_TYPED.indexOf(el.type) >= 0 || el.name === "csrf_token") return;
      fields.push({ name: el.name, value: el.value, type: el.type, checked: !!el.checked });
    });
    if (!fields.length) return null;
    var section = form.closest("section[id]");
    return {
      path: window.location.pathname,
      action: form.getAttribute("action"),
      reopen: form.getAttribute("data-reopen"),
      target: section ? section.id : null,
      fields: fields,
      pending: pending,
      until: Date.now() + DRAFT_MINUTES * 60000
    };
  }
  function fill(form, draft) {
    draft.fields.forEach(function (saved) {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name !== saved.name || NOT_TYPED.indexOf(el.type) >= 0) return;
        if (el.type === "checkbox" || el.type === "radio") {
          if (el.value === saved.value) el.checked = saved.checked;
        } else {
          el.value = saved.value;
        }
      });
    });
  }
  function restoreDraft() {
    var draft = readDraft();
    if (!draft) return;
    var here = window.location.pathname;
    if (draft.until < Date.now()) { writeDraft(null); return; }
    if (here === "/ui/login") {
      if (draft.pending) { draft.pending = false; writeDraft(draft); }
      var note = document.querySelector("[data-draft-note]");
      if (note) note.hidden = false;
      return;
    }
    if (draft.pending || draft.path !== here) { writeDraft(null); return; }
    var form = null;
    each(document, "form[action]", function (candidate) {
      if (!form && candidate.getAttribute("action") === draft.action) form = candidate;
    });
    if (!form) {
      var target = draft.target && document.getElementById(draft.target);
      if (draft.reopen && !draft.reopened && target && target.getAttribute("aria-busy") !== "true" && window.htmx) {
        draft.reopened = true;
        writeDraft(draft);
        window.htmx.ajax("GET", draft.reopen, { target: target, swap: "outerHTML" });
      }
      return;
    }
    writeDraft(null);
    fill(form, draft);
    each(document, "[data-selection]", updateSelection); // rows checked again: their bar
    var dialog = form.closest("dialog");
    if (dialog && !dialog.open) dialog.showModal();
    var text = document.body.getAttribute("data-text-draft-restored");
    var flash = document.getElementById("flash");
    if (flash && text) {
      var line = document.createElement("p");
      line.className = "flash flash-warn";
      line.textContent = text;
      flash.appendChild(line);
    }
    var first = form.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }
  document.addEventListener("login-required", function (event) {
    var form = event.target.closest ? event.target.closest("form") : null;
    var draft = draftOf(form || event.target, false);
    if (draft) writeDraft(draft);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("action") === "/ui/logout") { writeDraft(null); return; }
    if (form.hasAttribute("hx-post") || event.defaultPrevented) return; // htmx: see above
    var draft = draftOf(form, true);
    if (draft) writeDraft(draft);
  });

  function init(root) {
    openMarkedDialogs(root);
    each(root, "[data-selection]", updateSelection);
    restoreDraft();
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    startStream();
    showTarget();
    // the result of the change before this page (a redirect's message): said once more in
    // the live region, which was empty when the page loaded, so screen readers hear it
    var flash = document.getElementById("flash");
    if (flash && flash.textContent.trim()) announce(flash.textContent.trim());
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    init(event.target.ownerDocument === document ? document : event.target);
    showTarget();
    var root = event.target;
    var message = root.matches && root.matches("[data-announce]") ? root
      : root.querySelector && root.querySelector("[data-announce]");
    if (message) announce(message.getAttribute("data-announce"));
  });
  // the sections that follow the page (contact/page.html): say so if they cannot come
  function notLoaded(event) {
    var target = event.detail.elt;
    if (!target || !target.hasAttribute || !target.hasAttribute("data-failed")) return;
    target.querySelectorAll(".loading").forEach(function (line) {
      line.textContent = target.getAttribute("data-failed");
      line.closest("[aria-busy]").setAttribute("aria-busy", "false");
    });
    announce(target.getAttribute("data-failed"));
  }
  document.addEventListener("htmx:responseError", notLoaded);
  document.addEventListener("htmx:sendError", notLoaded);
  // htmx swaps error answers too (4xx pages re-render the form with the errors).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 422 || status === 409 || status === 400 || status === 403 || status === 404) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
}());
