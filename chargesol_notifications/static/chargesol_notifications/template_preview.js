/*
 * Live preview of a notification template in the admin.
 *
 * Posts the fields being edited to the admin's preview view (with the CSRF token) a
 * moment after staff stop typing, and shows the rendered subject and body as text
 * (textContent, never HTML). Everything is computed by the server, SMS parts included:
 * this script only shows what it is told.
 */
"use strict";

(function () {
  const DELAY_MS = 300;
  const FIELDS = ["name", "channel", "subject_template", "body_template", "sample_context"];

  const panel = document.getElementById("csn-preview");
  if (!panel) {
    return;
  }
  const form = panel.closest("form");
  const savedScript = document.getElementById("csn-preview-saved");
  const saved = savedScript ? JSON.parse(savedScript.textContent) : {};
  const csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");
  const element = (id) => document.getElementById(id);

  // A view-only page shows the saved fields as text, not inputs: preview those.
  function valueOf(name) {
    const input = form.elements.namedItem(name);
    if (input && "value" in input) {
      return input.value;
    }
    return saved[name] || "";
  }

  function showText(textId, errorId, result) {
    element(textId).textContent = result.error ? "" : result.text;
    element(textId).hidden = Boolean(result.error);
    const error = element(errorId);
    error.textContent = result.error || "";
    error.hidden = !result.error;
  }

  function showPreview(data) {
    const subjectBlock = element("csn-preview-subject-block");
    subjectBlock.hidden = !data.subject;
    if (data.subject) {
      showText("csn-preview-subject", "csn-preview-subject-error", data.subject);
    }
    showText("csn-preview-body", "csn-preview-body-error", data.body);
    element("csn-preview-summary").textContent = data.summary || "";
    const sampleError = element("csn-preview-sample-error");
    sampleError.textContent = data.sample_error || "";
    sampleError.hidden = !data.sample_error;
    panel.dataset.state = "ready";
  }

  function showFailure(message) {
    showText("csn-preview-body", "csn-preview-body-error", { text: "", error: message });
    panel.dataset.state = "failed";
  }

  let sent = 0;
  function refresh() {
    const request = ++sent;
    const body = new FormData();
    FIELDS.forEach((name) => body.append(name, valueOf(name)));
    panel.dataset.state = "loading";
    fetch(panel.dataset.previewUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfInput ? csrfInput.value : "" },
    })
      .then((response) => {
        if (!response.ok) {
          throw new Error(response.status + " " + response.statusText);
        }
        return response.json();
      })
      .then((data) => {
        if (request === sent) {
          showPreview(data);
        }
      })
      .catch((error) => {
        if (request === sent) {
          showFailure("The preview could not be loaded (" + error.message + ").");
        }
      });
  }

  let timer = null;
  function refreshSoon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, DELAY_MS);
  }

  FIELDS.forEach((name) => {
    const input = form.elements.namedItem(name);
    if (input && input.addEventListener) {
      input.addEventListener("input", refreshSoon);
      input.addEventListener("change", refreshSoon);
    }
  });

  // "Send a test to me" posts its own form: carry the sample data being edited over.
  const testForm = document.getElementById("csn-test-send-form");
  if (testForm) {
    testForm.addEventListener("submit", () => {
      testForm.elements.namedItem("sample_context").value = valueOf("sample_context");
    });
  }

  refresh();
})();
