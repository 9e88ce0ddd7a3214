// The dashboard's grouping order: drag a field by its handle (SortableJS, which also
// follows a finger on a phone) or use its buttons (up, down, leave out, add) from the
// keyboard. Each change writes the order into the form's group_by field and has htmx
// fetch the groups (the URL follows); focus stays on the field that moved. Without
// script every button submits the order it stands for.
"use strict";

(function () {
  var form = document.getElementById("dashboard-form");
  if (!form) return;
  var active = document.getElementById("grouping-active");
  var inactive = document.getElementById("grouping-inactive");
  var groupBy = form.querySelector("input[name=group_by]");
  // With script the buttons move the fields here and group_by carries the order; the
  // order each button stands for (name=order, for pages without script) must not travel
  // along: htmx adds the last button pressed to the next request, whose stale order the
  // server would apply instead.
  Array.prototype.forEach.call(form.querySelectorAll("button[data-move]"), function (button) {
    button.removeAttribute("name");
  });

  function items(list) {
    return Array.prototype.slice.call(list.querySelectorAll("li[data-field]"));
  }

  function changed() {
    var order = items(active);
    order.forEach(function (li, i) {
      li.querySelector("button.up").disabled = i === 0;
      li.querySelector("button.down").disabled = i === order.length - 1;
    });
    items(inactive).forEach(function (li) {
      li.querySelector("button.up").disabled = false;
      li.querySelector("button.down").disabled = false;
    });
    groupBy.value = order.map(function (li) { return li.getAttribute("data-field"); }).join(",");
    htmx.trigger(form, "submit");
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-move]");
    if (!button) return;
    event.preventDefault();
    var li = button.closest("li");
    var move = button.getAttribute("data-move");
    if (move === "up" && li.previousElementSibling) {
      active.insertBefore(li, li.previousElementSibling);
    } else if (move === "down" && li.nextElementSibling) {
      active.insertBefore(li.nextElementSibling, li);
    } else if (move === "remove") {
      inactive.appendChild(li);
    } else if (move === "add") {
      active.appendChild(li);
    }
    changed();
    // keep the keyboard where it was: this button, or the one that now does the work
    var next = button;
    if (move === "remove") next = li.querySelector("button.add");
    else if (move === "add") next = li.querySelector("button.remove");
    else if (button.disabled) next = li.querySelector(move === "up" ? "button.down" : "button.up");
    if (next.disabled) next = li.querySelector("button.remove");
    next.focus();
  });

  if (window.Sortable) {
    [active, inactive].forEach(function (list) {
      window.Sortable.create(list, {
        group: "grouping",
        handle: ".handle",
        draggable: "li[data-field]",
        animation: 120,
        onEnd: changed
      });
    });
  }
}());
