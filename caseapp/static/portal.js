/* Optional improvements to the portal; every page works without this file.
   Character counts, township list filtered by district, file checks, upload progress. */
(function () {
  "use strict";
  function each(sel, fn) { Array.prototype.forEach.call(document.querySelectorAll(sel), fn); }

  each("textarea[data-count]", function (area) {
    var max = parseInt(area.getAttribute("data-count"), 10);
    var out = document.createElement("p");
    out.className = "count";
    out.setAttribute("aria-live", "polite");
    area.parentNode.insertBefore(out, area.nextSibling);
    function update() { out.textContent = area.value.length + " / " + max; }
    area.addEventListener("input", update);
    update();
  });

  each("select[data-filter-by]", function (towns) {
    var district = document.getElementById(towns.getAttribute("data-filter-by"));
    if (!district) { return; }
    var groups = Array.prototype.slice.call(towns.querySelectorAll("optgroup"));
    function update() {
      var label = district.options[district.selectedIndex] ? district.options[district.selectedIndex].text : "";
      groups.forEach(function (g) {
        var show = g.label === label || g.label === "";
        g.hidden = !show;
        g.disabled = !show;
      });
      var chosen = towns.options[towns.selectedIndex];
      if (chosen && chosen.parentNode.disabled) { towns.value = ""; }
    }
    district.addEventListener("change", update);
    update();
  });

  each("input[type=file][data-max-bytes]", function (input) {
    var maxBytes = parseInt(input.getAttribute("data-max-bytes"), 10);
    var maxFiles = parseInt(input.getAttribute("data-max-files"), 10);
    input.addEventListener("change", function () {
      var msg = "";
      if (input.files.length > maxFiles) { msg = "max " + maxFiles; }
      Array.prototype.forEach.call(input.files, function (f) {
        if (f.size > maxBytes) { msg = f.name + " > " + Math.floor(maxBytes / 1048576) + " MB"; }
      });
      input.setCustomValidity(msg);
      if (msg) { input.reportValidity(); }
    });
  });

  var form = document.getElementById("report-form");
  var bar = document.getElementById("upload-progress");
  if (form && bar && window.FormData && window.XMLHttpRequest) {
    form.addEventListener("submit", function (ev) {
      var files = form.querySelector("input[type=file]");
      if (!files || !files.files.length) { return; }  // nothing large to wait for
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
      bar.hidden = false;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
      });
      xhr.addEventListener("load", function () {
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () { form.submit(); });  // same token: one tip
      xhr.send(new FormData(form));
    });
  }
}());
