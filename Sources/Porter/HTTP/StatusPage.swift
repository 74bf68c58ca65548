/// The status page: static HTML whose script fills it from `/status.json` every two seconds, without reloading.
/// Everything from the server is inserted as text, never as markup.
enum StatusPage {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Porter status</title>
        <style>
        body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 56rem; padding: 0 1rem; color: #1d232a; }
        h1 { font-size: 1.5rem; margin-bottom: .2rem; }
        h2 { font-size: 1.05rem; margin: 1.6rem 0 .4rem; }
        .summary { color: #4a5560; }
        .cards { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
        .card { border: 1px solid #d7dde3; border-radius: .5rem; padding: .6rem 1rem; min-width: 9rem; }
        .card b { display: block; font-size: 1.5rem; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #e6eaee; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        .empty { color: #8a949e; font-style: italic; }
        #stamp { color: #8a949e; font-size: .85rem; }
        </style>
        </head>
        <body>
        <h1>Porter <span id="version">…</span></h1>
        <div class="summary">on <span id="server">…</span>, up <span id="uptime">…</span> <span id="stamp"></span></div>
        <div class="cards">
        <div class="card"><b id="connections">–</b>connections open</div>
        <div class="card"><b id="unauthenticated">–</b>authenticating</div>
        <div class="card"><b id="busy">–</b>with a request</div>
        <div class="card"><b id="command-count">–</b>commands running</div>
        <div class="card"><b id="transfer-count">–</b>transfers</div>
        <div class="card"><b id="room-count">–</b>chat rooms</div>
        <div class="card"><b id="forward-count">–</b>forwards</div>
        </div>
        <h2>Commands running</h2>
        <table id="commands"><thead><tr><th>pid</th><th>program</th><th class="num">running for</th></tr></thead><tbody></tbody></table>
        <h2>Transfers in progress</h2>
        <table id="transfers"><thead><tr><th>path</th><th>direction</th><th class="num">done</th><th class="num">rate</th></tr></thead><tbody></tbody></table>
        <h2>Chat rooms</h2>
        <table id="rooms"><thead><tr><th>room</th><th>members</th></tr></thead><tbody></tbody></table>
        <h2>Forwarded connections</h2>
        <table id="forwards"><thead><tr><th>target</th><th>from</th><th class="num">to target</th><th class="num">from target</th></tr></thead><tbody></tbody></table>
        <script>
        "use strict";
        function text(id, value) { document.getElementById(id).textContent = value; }
        function duration(seconds) {
          seconds = Math.floor(seconds);
          const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24, m = Math.floor(seconds / 60) % 60, s = seconds % 60;
          return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
        }
        function bytes(count) {
          const units = ["B", "KiB", "MiB", "GiB", "TiB"];
          let unit = 0;
          while (count >= 1024 && unit < units.length - 1) { count /= 1024; unit++; }
          return (unit ? count.toFixed(1) : count) + " " + units[unit];
        }
        function rows(id, items, cells, columns) {
          const body = document.querySelector("#" + id + " tbody");
          body.replaceChildren();
          if (items.length === 0) {
            const row = body.insertRow(), cell = row.insertCell();
            cell.colSpan = columns; cell.className = "empty"; cell.textContent = "none";
            return;
          }
          for (const item of items) {
            const row = body.insertRow();
            for (const [value, numeric] of cells(item)) {
              const cell = row.insertCell();
              cell.textContent = value;
              if (numeric) cell.className = "num";
            }
          }
        }
        async function refresh() {
          try {
            const response = await fetch("/status.json", { cache: "no-store" });
            const status = await response.json();
            const now = Date.now();
            text("version", status.version);
            text("server", status.server);
            text("uptime", duration(status.uptimeSeconds));
            text("connections", status.connections);
            text("unauthenticated", status.unauthenticated);
            text("busy", status.busy);
            text("command-count", status.commands.length);
            text("transfer-count", status.transfers.length);
            text("room-count", status.rooms.length);
            text("forward-count", status.forwards.length);
            text("stamp", "· updated " + new Date().toLocaleTimeString());
            rows("commands", status.commands, c => [[c.pid, true], [c.program], [duration((now - Date.parse(c.started)) / 1000), true]], 3);
            rows("transfers", status.transfers, t => [[t.path], [t.direction], [bytes(t.bytes) + " of " + bytes(t.size), true], [bytes(t.bytesPerSecond) + "/s", true]], 4);
            rows("rooms", status.rooms, r => [[r.room], [r.members.join(", ")]], 2);
            rows("forwards", status.forwards, f => [[f.target], [f.origin], [bytes(f.toTarget), true], [bytes(f.fromTarget), true]], 4);
          } catch (error) {
            text("stamp", "· server unreachable");
          }
        }
        refresh();
        setInterval(refresh, 2000);
        </script>
        </body>
        </html>

        """
}
