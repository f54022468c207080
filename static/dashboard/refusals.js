/* Every htmx request that fails says so beside the control that sent it, never nothing.
 * The server's refusals (X-Refusal: a login needed, or no longer allowed) bring their own
 * translated message; a server error or a network failure get one from this script's data
 * attributes. The form is left as it was, and before a login its values are kept in the tab's
 * sessionStorage and put back when the same page opens again. No framework beyond htmx. */
(function () {
  "use strict";
  var script = document.currentScript;
  var text = (script && script.dataset) || {};
  var KEPT = "refusals:kept";
  var SKIPPED = ["hidden", "password", "submit", "button", "file", "reset"];

  function anchorOf(elt) {
    return (elt && elt.closest && elt.closest("form")) || elt;
  }

  function clear(anchor) {
    var before = anchor && anchor.previousElementSibling;
    if (before && before.classList.contains("htmx-refusal")) before.remove();
  }

  function show(elt, node) {
    var anchor = anchorOf(elt);
    if (!anchor || !anchor.isConnected) anchor = document.getElementById("content").firstElementChild;
    if (!anchor) return;
    clear(anchor);
    anchor.parentNode.insertBefore(node, anchor);
    var details = node.closest("details");
    if (details) details.open = true;
    if (node.scrollIntoView) node.scrollIntoView({block: "nearest"});
  }

  function message(words) {
    var node = document.createElement("div");
    node.className = "htmx-refusal";
    node.setAttribute("role", "alert");
    var p = document.createElement("p");
    p.textContent = words;
    node.appendChild(p);
    return node;
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function formKey(form) {
    return location.pathname + " " + (form.getAttribute("hx-post") || form.getAttribute("hx-get") ||
                                      form.getAttribute("action") || "");
  }

  function load() {
    try {
      return JSON.parse(sessionStorage.getItem(KEPT) || "{}");
    } catch (e) {
      return {};
    }
  }

  function save(kept) {
    try {
      sessionStorage.setItem(KEPT, JSON.stringify(kept));
    } catch (e) { /* storage full or off: the form still holds the values on this page */ }
  }

  /* What the user typed or chose in the form that sent elt (not the keys or tokens). */
  function keep(elt) {
    var form = elt && elt.closest && elt.closest("form");
    if (!form) return;
    var values = [];
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || SKIPPED.indexOf(field.type) >= 0) return;
      if ((field.type === "radio" || field.type === "checkbox") && !field.checked) return;
      values.push([field.name, field.value]);
    });
    var kept = load();
    kept[formKey(form)] = values;
    save(kept);
  }

  /* Each value put back is announced as if typed, once htmx has set up the page: a search
   * sent as one types is sent again, so the rows shown are those it finds. */
  function changed(field) {
    ["input", "change"].forEach(function (type) {
      field.dispatchEvent(new Event(type, {bubbles: true}));
    });
  }

  function restore() {
    var kept = load();
    var left = false;
    Array.prototype.forEach.call(document.forms, function (form) {
      var values = kept[formKey(form)];
      if (!values) return;
      delete kept[formKey(form)];
      left = true;
      values.forEach(function (pair) {
        Array.prototype.forEach.call(form.elements, function (field) {
          if (field.name !== pair[0] || SKIPPED.indexOf(field.type) >= 0) return;
          if (field.type === "radio" || field.type === "checkbox") {
            if (field.value !== pair[1]) return;
            field.checked = true;
          } else {
            field.value = pair[1];
          }
          changed(field);
        });
      });
      var details = form.closest("details");
      if (details) details.open = true;
    });
    if (left) save(kept);
  }

  document.body.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var kind = xhr.getResponseHeader("X-Refusal");
    var node = kind ? fragment(xhr.responseText) : null;
    if (kind === "login") keep(evt.detail.elt);
    if (!node) {
      var words = xhr.status >= 500 ? text.serverError : text.refused;
      node = message((words || "Error {status}").replace("{status}", xhr.status));
    }
    show(evt.detail.elt, node);
  });

  function unreachable(evt) {
    show(evt.detail.elt, message(text.unreachable || "The server could not be reached."));
  }
  document.body.addEventListener("htmx:sendError", unreachable);
  document.body.addEventListener("htmx:timeout", unreachable);

  /* Once a request from the same control succeeds, its old message goes. */
  document.body.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail.successful) clear(anchorOf(evt.detail.elt));
  });

  /* After htmx has set the page up: it waits for the document as this does, and its script
   * comes first. (A deferred script runs before DOMContentLoaded, not yet "complete".) */
  if (document.readyState !== "complete") {
    document.addEventListener("DOMContentLoaded", restore);
  } else {
    restore();
  }
})();
