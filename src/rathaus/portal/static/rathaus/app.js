// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Conditional fields: hide a field while the field it depends on has another value.
  function currentValue(form, name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked) return el.type === "checkbox" && el.value === "true" ? "true" : el.value;
      } else {
        return el.value;
      }
    }
    return inputs.length && inputs[0].type === "checkbox" ? "false" : "";
  }

  function updateConditions(form) {
    form.querySelectorAll("[data-show-if]").forEach(function (el) {
      var show = currentValue(form, el.getAttribute("data-show-if")) === el.getAttribute("data-show-value");
      el.hidden = !show;
      el.querySelectorAll(".condition-hint").forEach(function (hint) { hint.hidden = true; });
    });
  }

  // An error-summary link points at an input or, for radio groups and groups, at a fieldset.
  // Focus the first control inside and scroll so that its label or legend is visible too
  // (the browser alone would only scroll a fieldset into view and leave focus where it was).
  function focusTarget(event) {
    var link = event.target.closest("a[href^='#']");
    if (!link) return;
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    var control = target.matches("input, select, textarea") ? target
      : target.querySelector("input:not([type=hidden]), select, textarea");
    if (!control) return;
    event.preventDefault();
    var label = control.id && document.querySelector("label[for='" + control.id + "']");
    var legend = target.tagName === "FIELDSET" ? target.querySelector("legend") : null;
    (legend || label || control).scrollIntoView({ block: "start" });
    control.focus({ preventScroll: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.application-form").forEach(function (form) {
      updateConditions(form);
      form.addEventListener("change", function () { updateConditions(form); });
    });
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.addEventListener("click", focusTarget);
      // The summary has autofocus; older browsers ignore it on non-form elements.
      if (document.activeElement !== summary) summary.focus();
    }
  });
})();
