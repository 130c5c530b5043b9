// The crew's board: sort by where the phone is. Asks the browser's position once per tab
// session when the board does not know it yet (and on "Use my location"), then reloads the
// board with ?lat=&long=, which the server remembers. Without permission or without a fix the
// board stays in due order and the "Where are you?" field still works.
(function () {
  "use strict";
  var form = document.getElementById("crew-near");
  var button = document.getElementById("crew-locate");
  if (!form || !button || !("geolocation" in navigator)) {
    return;
  }
  var ASKED = "open311.crew.asked-position";

  function locate() {
    navigator.geolocation.getCurrentPosition(
      function (position) {
        var url = new URL(form.action, window.location.href);
        url.searchParams.set("lat", position.coords.latitude.toFixed(6));
        url.searchParams.set("long", position.coords.longitude.toFixed(6));
        window.location.assign(url.toString());
      },
      function () {
        // Refused or no fix: keep the board as it is; the field says what to do.
        button.disabled = false;
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    locate();
  });
  var fresh = false;
  try {
    fresh = !window.sessionStorage.getItem(ASKED);
    window.sessionStorage.setItem(ASKED, "1");
  } catch (e) {
    fresh = false; // storage blocked: ask only when the button is pressed
  }
  if (fresh && form.dataset.position === "unknown") {
    locate();
  }
})();
