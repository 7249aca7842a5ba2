/* DSN's admin helpers: no framework, no build step. Every form still works without this
 * script (the backend form re-renders for another channel with its "Show this channel's
 * settings" button; conditions stay editable as JSON). */
"use strict";
(function () {
  function cssKey(key) { return key.replace(/[^A-Za-z0-9_-]/g, "-") || "core"; }

  /* -- backend form: show only the chosen channel's settings ------------------------- */
  function channelSettings() {
    const select = document.querySelector("select#id_messenger");
    const groups = document.querySelectorAll("fieldset.dsn-options");
    if (!select || !groups.length) return;
    const anyway = document.querySelector(".form-row.field-save_anyway");
    const show = function () {
      groups.forEach(function (fs) {
        fs.classList.toggle("hidden", !fs.classList.contains("dsn-options-" + cssKey(select.value)));
      });
      // "save even if not configured" only matters for a channel marked as not configured
      const chosen = select.options[select.selectedIndex];
      const checkbox = document.getElementById("id_save_anyway");
      if (anyway && chosen) anyway.hidden = chosen.dataset.ready === "no" ? false : !(checkbox && checkbox.checked);
    };
    select.addEventListener("change", show);
    show();
  }


  /* -- trigger form: the condition builder ---------------------------------------------
   * Rows of field · operator · value(s), written to the JSON textarea on every change.
   * Conditions it cannot show (unknown keys or operators) leave the JSON in charge. */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
  function option(value, label, selected) {
    const o = el("option", { value: value, text: label });
    if (selected) o.selected = true;
    return o;
  }
  const FIELD_OPS = ["eq", "ne", "in", "changed_from_to", "changed", "empty", "not_empty"];
  const ROW_KEYS = ["field", "op", "value", "from", "to"];

  function conditionBuilder(box) {
    const textarea = document.getElementById(box.dataset.textarea);
    const data = JSON.parse(document.getElementById(box.dataset.builder).textContent);
    const builder = box.querySelector(".dsn-builder");
    const advanced = box.querySelector(".dsn-advanced");
    const modelSelect = document.getElementById("id_action_object_type");
    const verbSelect = document.getElementById("id_verb");
    const T = data.texts;
    const words = {};
    data.ops.forEach(function (pair) { words[pair[0]] = pair[1]; });
    let rows = [];

    function fields() {
      const m = modelSelect && data.models[modelSelect.value];
      return m ? m.fields : [];
    }
    function fieldInfo(name) { return fields().find(function (f) { return f.name === name; }); }

    function parse() {
      let raw;
      try { raw = JSON.parse(textarea.value.trim() || "[]"); } catch (e) { return null; }
      if (!Array.isArray(raw)) return null;
      const out = [];
      for (const item of raw) {
        if (typeof item !== "object" || item === null) return null;
        if (Object.keys(item).some(function (k) { return ROW_KEYS.indexOf(k) < 0; })) return null;
        if (item.op === "created") {
          if (item.value !== undefined && typeof item.value !== "boolean") return null;
          out.push({ op: item.value === false ? "created_false" : "created" });
        } else if (FIELD_OPS.indexOf(item.op) >= 0 && typeof item.field === "string") {
          out.push(Object.assign({}, item));
        } else {
          return null;
        }
      }
      return out;
    }

    function write() {
      const out = rows.map(function (r) {
        if (r.op === "created") return { op: "created" };
        if (r.op === "created_false") return { op: "created", value: false };
        const item = { field: r.field, op: r.op };
        if (r.op === "eq" || r.op === "ne" || r.op === "in") item.value = r.value;
        if (r.op === "changed_from_to") {
          if (r.from !== undefined && r.from !== "") item.from = r.from;
          if (r.to !== undefined && r.to !== "") item.to = r.to;
        }
        return item;
      });
      textarea.value = out.length ? JSON.stringify(out, null, 2) : "[]";
    }

    function valueInput(info, value, onChange, multiple) {
      const kind = info ? info.kind : "text";
      if (kind === "choice") {
        const select = el("select", multiple ? { multiple: "multiple", size: "3" } : {});
        if (!multiple) select.appendChild(option("", "---------", value === undefined || value === ""));
        info.choices.forEach(function (c) {
          const chosen = multiple ? (value || []).some(function (v) { return String(v) === String(c[0]); })
            : String(value) === String(c[0]);
          select.appendChild(option(JSON.stringify(c[0]), c[1], chosen));
        });
        select.addEventListener("change", function () {
          if (multiple) onChange(Array.from(select.selectedOptions).map(function (o) { return JSON.parse(o.value); }));
          else onChange(select.value === "" ? "" : JSON.parse(select.value));
        });
        return select;
      }
      if (kind === "bool" && !multiple) {
        const box = el("input", { type: "checkbox" });
        box.checked = value === true;
        box.addEventListener("change", function () { onChange(box.checked); });
        if (value === undefined) setTimeout(function () { onChange(false); });
        return box;
      }
      const types = { date: "date", datetime: "datetime-local", number: "number" };
      const input = el("input", { type: multiple ? "text" : (types[kind] || "text") });
      if (multiple) {
        input.placeholder = T.comma;
        input.value = (value || []).join(", ");
      } else if (value !== undefined && value !== null) {
        input.value = kind === "datetime" ? String(value).slice(0, 16) : value;
      }
      input.addEventListener("input", function () {
        if (multiple) {
          onChange(input.value.split(",").map(function (v) { return v.trim(); }).filter(Boolean)
            .map(function (v) { return kind === "number" && !isNaN(Number(v)) ? Number(v) : v; }));
        } else if (kind === "number" && input.value !== "" && !isNaN(Number(input.value))) {
          onChange(Number(input.value));
        } else {
          onChange(input.value);
        }
      });
      return input;
    }

    function drawRow(row, index) {
      const line = el("div", { className: "dsn-condition" });
      if (index > 0) line.appendChild(el("span", { className: "dsn-and", text: T.and }));
      const fieldSelect = el("select", { "aria-label": "field", className: "dsn-field" });
      fieldSelect.appendChild(option("", "—", !row.field));
      fields().forEach(function (f) { fieldSelect.appendChild(option(f.name, f.label, f.name === row.field)); });
      if (row.field && !fieldInfo(row.field)) fieldSelect.appendChild(option(row.field, row.field, true));
      const opSelect = el("select", { "aria-label": "operator", className: "dsn-op" });
      const fieldless = row.op === "created" || row.op === "created_false";
      data.ops.forEach(function (pair) {
        opSelect.appendChild(option(pair[0], pair[1], pair[0] === row.op));
      });
      fieldSelect.hidden = fieldless;
      fieldSelect.addEventListener("change", function () {
        row.field = fieldSelect.value; delete row.value; delete row.from; delete row.to; redraw();
      });
      opSelect.addEventListener("change", function () {
        row.op = opSelect.value;
        if (row.op === "created" || row.op === "created_false") delete row.field;
        else if (!row.field && fields().length) row.field = fields()[0].name;
        delete row.value; delete row.from; delete row.to;
        redraw();
      });
      line.appendChild(fieldSelect);
      line.appendChild(opSelect);
      const info = fieldInfo(row.field);
      const set = function (key) { return function (v) { row[key] = v; write(); }; };
      if (row.op === "eq" || row.op === "ne") line.appendChild(valueInput(info, row.value, set("value"), false));
      if (row.op === "in") line.appendChild(valueInput(info, row.value, set("value"), true));
      if (row.op === "changed_from_to") {
        line.appendChild(el("span", { text: T.from }));
        line.appendChild(valueInput(info, row.from, set("from"), false));
        line.appendChild(el("span", { text: T.to }));
        line.appendChild(valueInput(info, row.to, set("to"), false));
      }
      const remove = el("button", { type: "button", className: "dsn-remove", text: T.remove });
      remove.addEventListener("click", function () { rows.splice(index, 1); redraw(); });
      line.appendChild(remove);
      return line;
    }

    function redraw() {
      builder.textContent = "";
      rows.forEach(function (row, i) { builder.appendChild(drawRow(row, i)); });
      if (!rows.length) builder.appendChild(el("p", { className: "help", text: T.none }));
      if (!fields().length) builder.appendChild(el("p", { className: "help", text: T.no_model }));
      const add = el("button", { type: "button", className: "dsn-add", text: T.add });
      add.addEventListener("click", function () {
        const first = fields()[0];
        rows.push(first ? { field: first.name, op: "eq" } : { op: "created" });
        redraw();
      });
      builder.appendChild(add);
      write();
    }

    function start() {
      const parsed = parse();
      if (parsed === null) {
        builder.hidden = false;
        builder.textContent = "";
        builder.appendChild(el("p", { className: "help", text: T.advanced_only }));
        advanced.open = true;
        return;
      }
      rows = parsed;
      builder.hidden = false;
      advanced.open = false;
      redraw();
    }
    if (modelSelect) modelSelect.addEventListener("change", function () { redraw(); });
    if (verbSelect) verbSelect.addEventListener("change", function () { write(); });
    textarea.addEventListener("change", start);
    start();
  }


  /* -- template form: insert a variable where the cursor is --------------------------- */
  function templateHelp() {
    let last = document.getElementById("id_text");
    ["id_subject", "id_text", "id_html"].forEach(function (id) {
      const node = document.getElementById(id);
      if (node) node.addEventListener("focus", function () { last = node; });
    });
    const panel = document.getElementById("dsn-template-help");
    if (!panel) return;
    panel.addEventListener("click", function (event) {
      const button = event.target.closest("button.dsn-insert");
      if (!button || !last) return;
      const text = button.dataset.insert;
      const start = last.selectionStart != null ? last.selectionStart : last.value.length;
      const end = last.selectionEnd != null ? last.selectionEnd : start;
      last.value = last.value.slice(0, start) + text + last.value.slice(end);
      last.focus();
      last.selectionStart = last.selectionEnd = start + text.length;
    });
    // Any model's fields, for a template no trigger uses yet (or for related models).
    const chooser = document.getElementById("dsn-help-model");
    const data = document.getElementById("dsn-help-model-data");
    if (!chooser || !data) return;
    const models = JSON.parse(data.textContent).models;
    const target = panel.querySelector(".dsn-help-model-fields");
    panel.querySelector(".dsn-help-other").hidden = false;
    chooser.addEventListener("change", function () {
      target.textContent = "";
      const model = models[chooser.value];
      if (!model) return;
      ["instance"].concat(model.fields.map(function (f) { return "instance." + f; })).forEach(function (expr) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "dsn-insert";
        b.dataset.insert = "{{ " + expr + " }}";
        b.textContent = expr;
        target.appendChild(b);
      });
    });
  }


  /* -- trigger page: each subscription lists the receivers of the trigger's model ------- */
  function receiverGroups() {
    const modelSelect = document.getElementById("id_action_object_type");
    if (!modelSelect) return;
    const update = function () {
      document.querySelectorAll("input[data-model]").forEach(function (input) {
        const group = input.closest("label").parentElement.parentElement;  // the model's block
        const ticked = group.querySelector("input:checked");
        group.hidden = !ticked && modelSelect.value !== "" && input.dataset.model !== modelSelect.value;
      });
    };
    modelSelect.addEventListener("change", update);
    document.addEventListener("formset:added", update);
    update();
  }

  window.dsnAdmin = window.dsnAdmin || {};
  window.dsnAdmin.cssKey = cssKey;
  document.addEventListener("DOMContentLoaded", function () {
    channelSettings();
    receiverGroups();
    templateHelp();
    document.querySelectorAll(".dsn-conditions").forEach(conditionBuilder);
    (window.dsnAdmin.onReady || []).forEach(function (f) { f(); });
  });
})();
