// Roster import page: a spinner while the file is checked and imported (the import runs in
// the request; 5,000 rows take a few seconds), and the print button of the password sheet.
(function () {
  "use strict";
  var form = document.getElementById("roster-form");
  var spinner = document.getElementById("roster-spinner");
  if (form && spinner) {
    form.addEventListener("submit", function () {
      spinner.classList.add("on");
      var button = document.getElementById("roster-submit");
      if (button) button.disabled = true;
    });
  }
  var print = document.getElementById("print-passwords");
  if (print) print.addEventListener("click", function () { window.print(); });
})();
